// char_lm end to end, run as a subprocess: learning, exact resume, UTF-8 sampling, exit codes.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "subprocess.hpp"
#include "temp_files.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;

namespace {

using Run = tgtest::CommandResult;

Run run(const std::string& args) { return tgtest::run_command(std::string(TAPEGRAD_CHAR_LM) + " " + args); }

// Entropy in nats of the character (byte-level for ASCII) distribution of a text.
double unigram_entropy(const std::string& text) {
  std::map<char, double> counts;
  for (char c : text) counts[c] += 1;
  double h = 0;
  for (auto& [c, n] : counts) h -= n / double(text.size()) * std::log(n / double(text.size()));
  return h;
}

double json_number(const std::string& out, const std::string& key) {
  const auto at = out.rfind("\"" + key + "\":");
  REQUIRE_MESSAGE(at != std::string::npos, out);
  return std::atof(out.c_str() + at + key.size() + 3);
}

bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char b = s[i];
    const std::size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n;
  }
  return true;
}

// Checks that two char_lm checkpoints hold bit-identical model parameters (emb.*, rnn.*, out.*);
// returns how many tensors it compared.
std::size_t check_same_parameters(const std::string& path_a, const std::string& path_b) {
  const tg::SafetensorsFile a = tg::load_safetensors(path_a);
  const tg::SafetensorsFile b = tg::load_safetensors(path_b);
  std::size_t compared = 0;
  for (const auto& [name, t] : a.tensors) {
    if (name.rfind("rnn.", 0) != 0 && name.rfind("emb.", 0) != 0 && name.rfind("out.", 0) != 0) continue;
    REQUIRE(b.contains(name));
    CHECK_MESSAGE(t.get<float>() == b.at(name).get<float>(), name);
    ++compared;
  }
  return compared;
}

const char* kSmall = "--hidden 64 --embed 16 --batch 8 --block 32 --print-every 50";

}  // namespace

TEST_CASE("char_lm: bare and --help print help and exit 0") {
  const Run bare = run("");
  CHECK(bare.code == 0);
  CHECK(bare.output.find("train") != std::string::npos);
  CHECK(run("--help").code == 0);
  CHECK(run("train --help").code == 0);
}

TEST_CASE("char_lm: learns the built-in corpus to well below its unigram entropy") {
  tgtest::TempDir dir;
  const Run r = run(std::string("train --steps 300 --val-every 100 ") + kSmall + " --seed 1 --json --checkpoint " + dir.file("m.safetensors"));
  REQUIRE_MESSAGE(r.code == 0, r.output);
  const double h = unigram_entropy(tgtest::read_text(TAPEGRAD_SOURCE_DIR "/examples/char_lm/builtin_corpus.txt"));
  const double val = json_number(r.output, "val_loss");
  MESSAGE("validation " << val << " nats/char vs unigram entropy " << h);
  CHECK(val < h - 0.3);
  CHECK(json_number(r.output, "tokens_per_s") > 0);
  const Run e = run("eval --json --checkpoint " + dir.file("m.safetensors"));
  REQUIRE_MESSAGE(e.code == 0, e.output);
  CHECK(json_number(e.output, "val_loss") == doctest::Approx(val).epsilon(1e-9));
}

TEST_CASE("char_lm: 2N steps straight equal N, resume, N more (bit-identical parameters)") {
  tgtest::TempDir dir;
  const std::string common = std::string(kSmall) + " --layers 2 --dropout 0.2 --seed 5 --val-every 20 ";
  REQUIRE(run("train --steps 60 " + common + "--checkpoint " + dir.file("straight.safetensors")).code == 0);
  REQUIRE(run("train --steps 30 " + common + "--checkpoint " + dir.file("resumed.safetensors")).code == 0);
  const Run r = run("train --steps 60 --resume --checkpoint " + dir.file("resumed.safetensors"));
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(check_same_parameters(dir.file("straight.safetensors"), dir.file("resumed.safetensors")) == 11);
}

TEST_CASE("char_lm: --recompute-every trains the plain run in checkpointed segments (two layers, dropout)") {
  tgtest::TempDir dir;
  const std::string common = "train --hidden 32 --embed 16 --batch 4 --block 48 --layers 2 --dropout 0.2 --seed 3 "
                             "--steps 12 --val-every 6 --print-every 6 --json ";
  const Run plain = run(common + "--checkpoint " + dir.file("plain.safetensors"));
  const Run segmented = run(common + "--recompute-every 10 --checkpoint " + dir.file("segmented.safetensors"));
  REQUIRE_MESSAGE(plain.code == 0, plain.output);
  REQUIRE_MESSAGE(segmented.code == 0, segmented.output);
  // Segments of 10 (the last of 8) sum the block's loss in another order, and the dropout masks
  // are drawn (and replayed) in the same sequence: the same run to float rounding.
  for (const char* key : {"train_loss", "val_loss"}) {
    CAPTURE(key);
    CHECK(json_number(segmented.output, key) == doctest::Approx(json_number(plain.output, key)).epsilon(1e-4));
  }
  CHECK(json_number(plain.output, "train_loss") < std::log(65.0));  // it learned something in 12 steps
}

TEST_CASE("char_lm: --preset fills in the flags not given, the given ones win, and the checkpoint stores the result") {
  tgtest::TempDir dir;
  const std::string ckpt = dir.file("p.safetensors"), log = dir.file("p.csv");
  // The preset's model and schedule with a small width and 4 steps given on the command line.
  const Run r = run("train --preset tinyshakespeare-10min --hidden 24 --embed 8 --batch 4 --block 16 --steps 4 "
                    "--val-every 2 --print-every 1 --val-fraction 0.01 --json --log " + log + " --checkpoint " + ckpt);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  const auto meta = tg::read_checkpoint_metadata(ckpt);
  CHECK(meta.at("model.hidden") == "24");             // given
  CHECK(meta.at("train.batch") == "4");               // given
  CHECK(meta.at("train.schedule_steps") == "4");      // given: the cosine runs over these 4 steps
  // The rest is the preset's (examples/char_lm/presets.cpp).
  CHECK(meta.at("model.cell") == "gru");
  CHECK(meta.at("train.optim") == "adamw");
  CHECK(meta.at("train.lr_schedule") == "cosine");
  CHECK(meta.at("train.warmup") == "100");
  CHECK(meta.at("train.lr") == "0.003");
  CHECK(json_number(r.output, "seconds") > 0);  // training time, validation excluded
  // The log has the training time beside the wall clock.
  const std::string csv = tgtest::read_text(log);
  CHECK(csv.rfind("step,train_loss,val_loss,val_bpc,lr,tokens_per_s,seconds,train_seconds\n", 0) == 0);
}

TEST_CASE("char_lm: the log has the training time beside the wall clock, and --json the training seconds") {
  tgtest::TempDir dir;
  const std::string log = dir.file("t.csv");
  const Run r = run("train --steps 4 --val-every 2 --print-every 1 --hidden 16 --embed 8 --batch 4 --block 16 --json --log " +
                    log + " --checkpoint " + dir.file("t.safetensors"));
  REQUIRE_MESSAGE(r.code == 0, r.output);
  std::istringstream lines(tgtest::read_text(log));
  std::string line;
  std::getline(lines, line);
  CHECK(line == "step,train_loss,val_loss,val_bpc,lr,tokens_per_s,seconds,train_seconds");
  double previous = 0, train_seconds = 0;
  while (std::getline(lines, line)) {  // the training time grows, and stays below the wall clock
    CAPTURE(line);
    const double seconds = std::stod(line.substr(line.find_last_of(',', line.rfind(',') - 1) + 1));
    train_seconds = std::stod(line.substr(line.rfind(',') + 1));
    CHECK(train_seconds >= previous);
    CHECK(train_seconds <= seconds);
    previous = train_seconds;
  }
  CHECK(train_seconds > 0);
  CHECK(std::abs(json_number(r.output, "seconds") - train_seconds) <= 0.0015);  // the log rounds to 1 ms
}

TEST_CASE("char_lm: a log begun before the train_seconds column keeps its seven columns") {
  tgtest::TempDir dir;
  const std::string ckpt = dir.file("m.safetensors"), log = dir.file("old.csv");
  const std::string old_header = "step,train_loss,val_loss,val_bpc,lr,tokens_per_s,seconds\n";
  tgtest::write_text(log, old_header);
  const Run r = run("train --steps 2 --print-every 1 --hidden 16 --embed 8 --batch 4 --block 16 --log " + log +
                    " --checkpoint " + ckpt);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  std::istringstream lines(tgtest::read_text(log));
  std::string line;
  std::getline(lines, line);
  CHECK(line + "\n" == old_header);
  int rows = 0;
  while (std::getline(lines, line)) {
    CAPTURE(line);
    CHECK(std::count(line.begin(), line.end(), ',') == 6);
    ++rows;
  }
  CHECK(rows >= 2);
}

TEST_CASE("char_lm: Korean text trains and samples valid UTF-8") {
  tgtest::TempDir dir;
  std::string corpus = TAPEGRAD_DATA_DIR "/ko_rnn_notes.txt";
  if (!std::ifstream(corpus).good()) {  // no shared data: write a small Korean text
    corpus = dir.file("ko.txt");
    std::string text;
    for (int i = 0; i < 300; ++i) text += "순환 신경망은 시간에 따라 상태를 전달한다. 기울기는 시간을 거슬러 흐른다.\n";
    tgtest::write_text(corpus, text);
  }
  const std::string ckpt = dir.file("ko.safetensors");
  const Run t = run("train --data " + corpus + " --steps 40 " + kSmall + " --checkpoint " + ckpt);
  REQUIRE_MESSAGE(t.code == 0, t.output);
  const Run s = run("sample --checkpoint " + ckpt + " --length 200 --temperature 1 --seed 3");
  REQUIRE(s.code == 0);
  CHECK(valid_utf8(s.output));
  CHECK(s.output.size() > 200);  // Hangul is 3 bytes per character
  const Run greedy = run("sample --checkpoint " + ckpt + " --length 50 --temperature 0 --prime 신경");
  CHECK(greedy.code == 0);
  CHECK(greedy.output.rfind("신경", 0) == 0);
  CHECK(valid_utf8(greedy.output));
}

TEST_CASE("char_lm: bad input ends with one clear line and exit code 2") {
  tgtest::TempDir dir;
  const std::string good = dir.file("good.safetensors");
  REQUIRE(run("train --steps 10 " + std::string(kSmall) + " --checkpoint " + good).code == 0);
  const std::string before = tgtest::read_text(good);
  tgtest::write_text(dir.file("empty.txt"), "");
  tgtest::write_text(dir.file("short.txt"), "just a few characters\n");
  tgtest::write_text(dir.file("bad.txt"), "hello\nw\xC3\x28rld\n");
  tgtest::write_text(dir.file("cut.txt"), "abc\xE2\x82");
  tgtest::write_text(dir.file("binary.bin"), std::string("\x7f" "ELF\x02\x01\x01\0\0\xff", 10));
  tgtest::write_text(dir.file("truncated.safetensors"), tgtest::read_text(good).substr(0, 100));
  tg::save_safetensors(dir.file("foreign.safetensors"), tg::NamedTensors{{"weight", tg::Tensor::zeros({2, 2})}}, {});
  tg::save_checkpoint(dir.file("linear.safetensors"), tg::Linear(3, 2));  // tapegrad's, not char_lm's
  REQUIRE(run("train --steps 10 --cell gru " + std::string(kSmall) + " --checkpoint " + dir.file("gru.safetensors")).code == 0);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train --no-such-flag", "no-such-flag"},
      {"train --hidden abc", "hidden"},
      {"train --hidden 0", "from 1 to"},
      {"train --recompute-every -3", "recompute-every"},
      {"train --cell tree", "tree"},
      {"train --preset tinyshakespear", "--preset must be one of tinyshakespeare-10min"},
      {"train --data " + dir.file("missing.txt"), "no such file"},
      {"train --data " + dir.file("empty.txt"), "empty"},
      {"train --data " + dir.file("short.txt"), "too short"},
      {"train --data " + dir.file("bad.txt"), "byte offset 8"},
      {"train --data " + dir.file("cut.txt"), "byte offset 3"},
      {"train --data " + dir.file("binary.bin"), "byte offset 7"},
      {"train --steps 20 --resume --hidden 128 --checkpoint " + good, "conflicts"},
      {"train --steps 20 --resume --data " + dir.file("short.txt") + " --checkpoint " + good, "not the corpus"},
      {"sample --checkpoint " + dir.file("truncated.safetensors"), "truncated.safetensors"},
      {"eval --checkpoint " + dir.file("foreign.safetensors"), "not a tapegrad checkpoint"},
      {"sample --checkpoint " + dir.file("linear.safetensors"), "not a char_lm checkpoint"},
      {"train --steps 20 --resume --cell lstm --checkpoint " + dir.file("gru.safetensors"), "--cell lstm conflicts"},
      {"sample --checkpoint " + dir.file("missing.safetensors"), "missing.safetensors"},
      {"sample --checkpoint " + good + " --prime xyz\xE2\x82\xAC", "not in the model's vocabulary"},
      {"eval --checkpoint " + good + " --data " + dir.file("bad.txt"), "invalid UTF-8"},
  };
  for (const auto& [args, needle] : cases) {
    CAPTURE(args);
    const Run r = run(args);
    CHECK(r.code == 2);
    CHECK_MESSAGE(r.output.find(needle) != std::string::npos, r.output);
  }
  CHECK(tgtest::read_text(good) == before);  // never overwritten by a failed run
}

TEST_CASE("char_lm: a diverging run exits with 3 and keeps the last good checkpoint") {
  tgtest::TempDir dir;
  const std::string ckpt = dir.file("div.safetensors");
  const Run r = run("train --steps 100 --optim sgd --lr 1e37 --clip 0 --save-every 1 " + std::string(kSmall) +
                    " --checkpoint " + ckpt);
  CHECK(r.code == 3);
  CHECK_MESSAGE(r.output.find("diverged") != std::string::npos, r.output);
  if (std::ifstream(ckpt).good()) {  // a checkpoint written before the divergence is intact and finite
    const auto meta = tg::read_checkpoint_metadata(ckpt);
    CHECK(std::stoul(meta.at("train.step")) < 100);
    for (const auto& [name, t] : tg::load_safetensors(ckpt).tensors)
      if (t.dtype() == tg::StoredDtype::F32) CHECK_MESSAGE(xt::all(xt::isfinite(t.get<float>())), name);
  }
}

namespace {

// Starts char_lm with `args` (split on spaces) in the background, output discarded.
pid_t spawn_char_lm(const std::string& args) {
  std::vector<std::string> words{TAPEGRAD_CHAR_LM};
  std::istringstream in(args);
  for (std::string w; in >> w;) words.push_back(w);
  std::fflush(nullptr);  // or the child's freopen would write our buffered output a second time
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// The step recorded in a checkpoint, or -1 while there is none (or it cannot be read yet).
long checkpoint_step(const std::string& path) {
  try {
    const auto m = tg::read_checkpoint_metadata(path);
    const auto it = m.find("train.step");
    return it == m.end() ? -1 : std::stol(it->second);
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

TEST_CASE("char_lm: SIGKILL mid-run keeps a loadable checkpoint, and resuming ends where a straight run does") {
  tgtest::TempDir dir;
  const std::string common = std::string(kSmall) + " --steps 150 --save-every 5 --seed 11 --val-every 50 ";
  const std::string ckpt = dir.file("killed.safetensors");
  const pid_t pid = spawn_char_lm("train " + common + "--checkpoint " + ckpt);
  // Kill without warning once a checkpoint past step 10 is on disk: no handler runs.
  long step = -1;
  int status = 0;
  bool exited = false;
  for (int spins = 0; spins < 60000 && step < 10; ++spins) {  // up to ~60 s
    step = checkpoint_step(ckpt);
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    usleep(1000);
  }
  REQUIRE_MESSAGE(!exited, "char_lm ended before it could be killed");
  kill(pid, SIGKILL);
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  const long killed_at = checkpoint_step(ckpt);
  MESSAGE("killed with a checkpoint at step " << killed_at << " of 150");
  REQUIRE(killed_at >= 10);
  REQUIRE(killed_at < 150);
  // A kill during a save may leave that save's temporary file (nothing can remove it then);
  // anything else is a leak. What is on disk loads and evaluates.
  const std::string killed_temp = "killed.safetensors.tmp." + std::to_string(pid) + ".";
  for (const auto& e : fs::directory_iterator(dir.path())) {
    const std::string name = e.path().filename().string();
    CHECK_MESSAGE((name == "killed.safetensors" || name.rfind(killed_temp, 0) == 0), "left behind: " << name);
  }
  const Run eval = run("eval --checkpoint " + ckpt);
  CHECK_MESSAGE(eval.code == 0, eval.output);

  const Run resumed = run("train --steps 150 --resume --checkpoint " + ckpt);
  REQUIRE_MESSAGE(resumed.code == 0, resumed.output);
  for (const auto& e : fs::directory_iterator(dir.path()))  // the resumed run's saves swept it
    CHECK_MESSAGE(e.path().filename() == "killed.safetensors", "left behind after resuming: " << e.path());
  REQUIRE(run("train " + common + "--checkpoint " + dir.file("straight.safetensors")).code == 0);
  CHECK(check_same_parameters(dir.file("straight.safetensors"), ckpt) == 7);  // emb, 4 LSTM, out weight and bias
}
