// char_lm against hostile input, run as a user would (subprocesses): bad paths, an existing
// checkpoint, bad numbers, crafted checkpoints whose CRCs are right, divergence, schedules,
// signals, full disks and too little memory. Every row asserts the exit code, that stderr is
// exactly one short line naming the culprit with no raw control characters, that the case ends
// within 20 s, and that every file the user had is byte-identical afterwards.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <tapegrad/tapegrad.hpp>

#include "temp_files.hpp"

namespace fs = std::filesystem;

namespace {

const std::string kCharLM = TAPEGRAD_CHAR_LM;
const std::string kTiny = " --hidden 16 --embed 8 --batch 4 --block 8 --print-every 1000 --val-every 1000 ";

std::string sh_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct Outcome {
  int code;  // exit code; 124 when `timeout` ended a hang
  std::string out, err;
};

// Runs `shell` (a bash command line) with a 20 s limit, stdout and stderr apart.
Outcome run_shell(const std::string& shell, const tgtest::TempDir& dir) {
  const std::string out = dir.file(".stdout"), err = dir.file(".stderr");
  const std::string cmd = "timeout -s KILL 20 bash -c " + sh_quote(shell) + " >" + sh_quote(out) + " 2>" + sh_quote(err) + " </dev/null";
  const int status = std::system(cmd.c_str());
  Outcome o{WIFEXITED(status) ? WEXITSTATUS(status) : -1, tgtest::read_text(out), tgtest::read_text(err)};
  fs::remove(out);
  fs::remove(err);
  return o;
}

// Every regular file under `dir` and its bytes (the run's own stdout/stderr excluded).
std::map<std::string, tgtest::Bytes> snapshot(const tgtest::TempDir& dir) {
  std::map<std::string, tgtest::Bytes> files;
  for (const auto& e : fs::recursive_directory_iterator(dir.path()))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') files[e.path().string()] = tgtest::read_bytes(e.path());
  return files;
}

// Exactly one line, at most ~300 bytes (the cut adds a 3-byte ellipsis), no control bytes.
void check_one_line(const std::string& err) {
  REQUIRE_MESSAGE(!err.empty(), "nothing on stderr");
  CHECK_MESSAGE(err.back() == '\n', err);
  const std::string line = err.substr(0, err.size() - 1);
  CHECK_MESSAGE(line.find('\n') == std::string::npos, err);
  CHECK_MESSAGE(line.size() <= 303, err);
  for (unsigned char c : line) CHECK_MESSAGE((c >= 0x20 && c != 0x7f), err);
}

// A small trained checkpoint and its corpus, shared by the rows (made once).
struct Fixture {
  tgtest::TempDir dir;
  std::string corpus = dir.file("corpus.txt"), good = dir.file("good.safetensors");
  Fixture() {
    std::string text;
    for (int i = 0; i < 60; ++i) text += "the quick brown fox jumps over the lazy dog " + std::to_string(i % 7) + "\n";
    tgtest::write_bytes(corpus, tgtest::Bytes(text.begin(), text.end()));
    const Outcome o = run_shell(kCharLM + " train --data " + sh_quote(corpus) + kTiny + "--steps 4 --checkpoint " + sh_quote(good), dir);
    REQUIRE_MESSAGE(o.code == 0, o.err);
  }
};
Fixture& fixture() {
  static Fixture f;
  return f;
}

// A copy of the fixture's checkpoint with metadata `key` set to `value` (CRCs recomputed, so
// only the value itself can give it away); an empty value removes the key.
void craft(const std::string& path, const std::string& key, const std::string& value) {
  tg::SafetensorsFile f = tg::load_safetensors(fixture().good);
  f.metadata.erase("crc32");
  f.metadata.erase("header_crc32");
  if (value.empty()) f.metadata.erase(key);
  else f.metadata[key] = value;
  tg::save_safetensors(path, f.tensors, f.metadata);
}

// A copy of the fixture's checkpoint whose tensor `name` holds `value` at its first element.
void craft_value(const std::string& path, const std::string& name, float value) {
  tg::SafetensorsFile f = tg::load_safetensors(fixture().good);
  f.metadata.erase("crc32");
  f.metadata.erase("header_crc32");
  for (auto& [n, t] : f.tensors)
    if (n == name) {
      xt::xarray<float> v = t.get<float>();
      v.data()[0] = value;
      t = tg::StoredTensor(v);
    }
  tg::save_safetensors(path, f.tensors, f.metadata);
}

struct Row {
  std::string name;
  // Prepares the row's folder; returns the shell command (paths relative to the folder).
  std::function<std::string(const tgtest::TempDir&)> command;
  int code;
  std::vector<std::string> needles;  // each must appear in the stderr line
};

void run_rows(const std::vector<Row>& rows) {
  for (const Row& row : rows) {
    CAPTURE(row.name);
    tgtest::TempDir dir;
    fs::copy_file(fixture().corpus, dir.file("corpus.txt"));
    fs::copy_file(fixture().good, dir.file("good.safetensors"));
    const std::string command = "cd " + sh_quote(dir.path().string()) + " && " + row.command(dir);
    CAPTURE(command);
    const auto before = snapshot(dir);
    const auto start = std::chrono::steady_clock::now();
    const Outcome o = run_shell(command, dir);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CAPTURE(o.err);
    CHECK(o.code == row.code);
    CHECK(seconds < 20);
    check_one_line(o.err);
    for (const std::string& needle : row.needles) CHECK_MESSAGE(o.err.find(needle) != std::string::npos, needle);
    CHECK_MESSAGE(snapshot(dir) == before, "a file was created, changed or removed");
  }
}

std::string train(const std::string& args) { return kCharLM + " train --data corpus.txt" + kTiny + args; }
// Without --data and the report flags, for rows that give them.
std::string train_bare(const std::string& args) {
  return kCharLM + " train --hidden 16 --embed 8 --batch 4 --block 8 " + args;
}
auto plain(const std::string& cmd) {
  return [cmd](const tgtest::TempDir&) { return cmd; };
}
auto with_fifo(const std::string& cmd) {
  return [cmd](const tgtest::TempDir& d) {
    REQUIRE(::mkfifo(d.file("pipe").c_str(), 0600) == 0);
    return cmd;
  };
}
auto crafted(const std::string& key, const std::string& value, const std::string& cmd) {
  return [key, value, cmd](const tgtest::TempDir& d) {
    craft(d.file("bad.safetensors"), key, value);
    return cmd;
  };
}

}  // namespace

TEST_SUITE("char_lm") {

TEST_CASE("hostile char_lm: paths that cannot work are exit 2 naming the path, before any work") {
  const std::string long_name(250, 'n');
  run_rows({
      {"data is a folder", plain(train_bare("--data . --checkpoint m.st")), 2, {"--data", "folder"}},
      {"data is a FIFO (no hang)", with_fifo(train_bare("--data pipe --checkpoint m.st")), 2, {"--data pipe", "FIFO"}},
      {"data is a device", plain(train_bare("--data /dev/zero --checkpoint m.st")), 2, {"--data /dev/zero", "device"}},
      {"data is missing", plain(train_bare("--data none.txt --checkpoint m.st")), 2, {"--data none.txt", "no such file"}},
      {"data is empty", plain(train_bare("--data '' --checkpoint m.st")), 2, {"--data is empty"}},
      {"checkpoint is empty", plain(train("--checkpoint ''")), 2, {"--checkpoint is empty"}},
      {"log is empty", plain(train("--checkpoint m.st --log ''")), 2, {"--log is empty"}},
      {"checkpoint is a folder", plain(train("--checkpoint .")), 2, {"--checkpoint .", "folder"}},
      {"checkpoint is a FIFO", with_fifo(train("--checkpoint pipe")), 2, {"--checkpoint pipe", "FIFO"}},
      {"log is a FIFO", with_fifo(train("--checkpoint m.st --log pipe")), 2, {"--log pipe", "FIFO"}},
      {"log is a device", plain(train("--checkpoint m.st --log /dev/null")), 2, {"--log /dev/null", "device"}},
      {"checkpoint folder missing", plain(train("--checkpoint no/such/m.st")), 2, {"--checkpoint no/such/m.st", "folder"}},
      {"checkpoint under a regular file", plain(train("--checkpoint corpus.txt/m.st")), 2,
       {"--checkpoint corpus.txt/m.st", "not a folder"}},
      {"checkpoint in /proc", plain(train("--checkpoint /proc/tapegrad.st")), 2, {"--checkpoint /proc/tapegrad.st"}},
      {"log in /proc", plain(train("--checkpoint m.st --log /proc/tapegrad.csv")), 2, {"--log /proc/tapegrad.csv"}},
      {"checkpoint name too long for the temporary file", plain(train("--checkpoint " + long_name)), 2,
       {"--checkpoint nnnn", "too long"}},
      {"data and checkpoint are one file", plain(train("--checkpoint corpus.txt")), 2,
       {"--data and --checkpoint", "same file"}},
      {"another spelling of the same file", plain(train("--checkpoint ./corpus.txt")), 2, {"same file"}},
      {"a hard link to the corpus", [](const tgtest::TempDir& d) {
         fs::create_hard_link(d.file("corpus.txt"), d.file("link.csv"));
         return train("--checkpoint m.st --log link.csv");
       }, 2, {"--data and --log", "same file"}},
      {"data and log are one file", plain(train("--checkpoint m.st --log corpus.txt")), 2, {"--data and --log"}},
      {"log ends in .svg: the curve would overwrite it", plain(train("--checkpoint m.st --log run.svg")), 2,
       {"--log and the loss-curve SVG", "same file"}},
      {"the SVG beside the log is the checkpoint", plain(train("--checkpoint run.svg --log run.csv")), 2,
       {"--checkpoint and the loss-curve SVG"}},
      {"keep-best's file is the log", plain(train("--checkpoint m --keep-best --log m.best")), 2, {"--keep-best's file"}},
      {"a newline in a path is shown as \\x0A", plain(train_bare("--data $'bad\\nname' --checkpoint m.st")), 2,
       {"bad\\x0Aname"}},
      {"eval: checkpoint is a FIFO (no hang)", with_fifo(kCharLM + " eval --checkpoint pipe"), 2, {"--checkpoint pipe", "FIFO"}},
      {"eval: checkpoint is a folder", plain(kCharLM + " eval --checkpoint ."), 2, {"--checkpoint .", "folder"}},
      {"eval: data is a FIFO", with_fifo(kCharLM + " eval --checkpoint good.safetensors --data pipe"), 2, {"--data pipe"}},
      {"sample: checkpoint is missing", plain(kCharLM + " sample --checkpoint none.st"), 2, {"--checkpoint none.st"}},
      {"eval: the checkpoint names a FIFO as its corpus",
       [](const tgtest::TempDir& d) {
         REQUIRE(::mkfifo(d.file("pipe").c_str(), 0600) == 0);
         craft(d.file("bad.safetensors"), "corpus.name", d.file("pipe"));
         return kCharLM + " eval --checkpoint bad.safetensors";
       }, 2, {"the corpus named by the checkpoint", "FIFO"}},
  });
}

TEST_CASE("hostile char_lm: train never replaces a checkpoint without --resume or --overwrite") {
  run_rows({
      {"existing checkpoint", plain(train("--steps 2 --checkpoint good.safetensors")), 2,
       {"good.safetensors already exists", "--resume", "--overwrite"}},
      {"existing .best with --keep-best", [](const tgtest::TempDir& d) {
         fs::copy_file(d.file("good.safetensors"), d.file("m.st.best"));
         return train("--steps 2 --keep-best --checkpoint m.st");
       }, 2, {"m.st.best already exists"}},
      {"--resume and --overwrite together", plain(train("--steps 8 --resume --overwrite --checkpoint good.safetensors")), 2,
       {"--resume", "--overwrite"}},
  });
  // --overwrite replaces it.
  tgtest::TempDir dir;
  fs::copy_file(fixture().corpus, dir.file("corpus.txt"));
  fs::copy_file(fixture().good, dir.file("m.st"));
  const auto before = tgtest::read_bytes(dir.file("m.st"));
  const Outcome o = run_shell("cd " + sh_quote(dir.path().string()) + " && " + train("--steps 2 --seed 5 --checkpoint m.st --overwrite"), dir);
  CHECK_MESSAGE(o.code == 0, o.err);
  CHECK(tgtest::read_bytes(dir.file("m.st")) != before);
}

TEST_CASE("hostile char_lm: numbers are decimal, finite and in range, or exit 2 naming the flag") {
  std::vector<Row> rows;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--hidden", "-1"}, {"--hidden", "0x10"}, {"--hidden", "1e3"}, {"--hidden", "99999"}, {"--hidden", " 5"},
      {"--layers", "0"}, {"--batch", "18446744073709551616"}, {"--block", "-8"}, {"--steps", "0"},
      {"--steps", "-1"}, {"--warmup", "-5"}, {"--seed", "-1"}, {"--seed", "0x1"}, {"--threads", "0"},
      {"--threads", "-2"}, {"--lr", "nan"}, {"--lr", "inf"}, {"--lr", "-1e-3"}, {"--lr", "0"}, {"--lr", "1e400"},
      {"--lr", "0x1p-3"}, {"--clip", "-1"}, {"--clip", "inf"}, {"--dropout", "1"}, {"--dropout", "nan"},
      {"--val-fraction", "0"}, {"--val-fraction", "1"}, {"--val-every", "0"}, {"--save-every", "-1"},
      {"--max-seconds", "nan"}, {"--embed", "12abc"}};
  for (const auto& [flag, value] : bad)
    rows.push_back({flag + " " + value, plain(train("--checkpoint m.st " + flag + " '" + value + "'")), 2, {flag, value}});
  const std::vector<std::pair<std::string, std::string>> bad_sample = {
      {"--temperature", "nan"}, {"--temperature", "-1"}, {"--top-k", "-1"}, {"--length", "0"}, {"--length", "-5"},
      {"--seed", "1.5"}};
  for (const auto& [flag, value] : bad_sample)
    rows.push_back({"sample " + flag + " " + value,
                    plain(kCharLM + " sample --checkpoint good.safetensors " + flag + " '" + value + "'"), 2, {flag, value}});
  rows.push_back({"eval --threads -1", plain(kCharLM + " eval --checkpoint good.safetensors --threads -1"), 2, {"--threads"}});
  run_rows(rows);
}

TEST_CASE("hostile char_lm: eval --dynamic's flags are checked like the others, or exit 2 naming the flag") {
  const std::string eval = kCharLM + " eval --checkpoint good.safetensors --data corpus.txt ";
  std::vector<Row> rows;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--dynamic-lr", "nan"},      {"--dynamic-lr", "-1e-4"},     {"--dynamic-lr", "inf"},
      {"--dynamic-lr", "1e400"},    {"--dynamic-decay", "-0.1"},   {"--dynamic-decay", "1.5"},
      {"--dynamic-decay", "nan"},   {"--dynamic-block", "0"},      {"--dynamic-block", "-20"},
      {"--dynamic-block", "0x14"},  {"--dynamic-stats", "0"},      {"--dynamic-stats", "1e5"},
      {"--part", "middle"}};
  for (const auto& [flag, value] : bad)
    rows.push_back({"eval " + flag + " " + value, plain(eval + "--dynamic " + flag + " '" + value + "'"), 2, {flag, value}});
  rows.push_back({"--dynamic-lr without --dynamic", plain(eval + "--dynamic-lr 1e-4"), 2, {"--dynamic-lr", "needs --dynamic"}});
  rows.push_back({"--dynamic-block without --dynamic", plain(eval + "--dynamic-block 5"), 2, {"--dynamic-block", "needs --dynamic"}});
  rows.push_back({"--dynamic-tune with --part", plain(eval + "--dynamic-tune --part first-half"), 2,
                  {"--part", "conflicts with --dynamic-tune"}});
  rows.push_back({"--dynamic-tune with --dynamic-lr", plain(eval + "--dynamic-tune --dynamic-lr 1e-4"), 2,
                  {"--dynamic-lr", "conflicts with --dynamic-tune"}});
  rows.push_back({"--dynamic-block longer than the training split", plain(eval + "--dynamic --dynamic-block 100000"), 2,
                  {"--dynamic-block", "training split"}});
  rows.push_back({"a step size that diverges", plain(eval + "--dynamic --dynamic-lr 1e30"), 3, {"diverged", "--dynamic-lr"}});
  run_rows(rows);
}

TEST_CASE("hostile char_lm: leading zeros are decimal, in flags and in metadata") {
  tgtest::TempDir dir;
  fs::copy_file(fixture().corpus, dir.file("corpus.txt"));
  const Outcome o = run_shell("cd " + sh_quote(dir.path().string()) + " && " + kCharLM +
                                  " train --data corpus.txt --hidden 010 --embed 08 --batch 004 --block 8 --steps 1 "
                                  "--checkpoint m.st",
                              dir);
  REQUIRE_MESSAGE(o.code == 0, o.err);
  const auto meta = tg::read_checkpoint_metadata(dir.file("m.st"));
  CHECK(meta.at("model.hidden") == "10");  // not octal 8
  CHECK(meta.at("model.embed") == "8");    // "08" is not an octal error
  // The same text in the metadata reads the same way: "010" is the 10 the tensors were made for.
  tg::SafetensorsFile f = tg::load_safetensors(dir.file("m.st"));
  f.metadata.erase("crc32");
  f.metadata.erase("header_crc32");
  f.metadata["model.hidden"] = "010";
  tg::save_safetensors(dir.file("zeros.st"), f.tensors, f.metadata);
  const Outcome e = run_shell(kCharLM + " eval --checkpoint " + sh_quote(dir.file("zeros.st")) + " --data " +
                                  sh_quote(dir.file("corpus.txt")),
                              dir);
  CHECK_MESSAGE(e.code == 0, e.err);
}

TEST_CASE("hostile char_lm: crafted metadata is validated as strictly as the flags, before anything is allocated") {
  const std::string eval = kCharLM + " eval --checkpoint bad.safetensors --data corpus.txt";
  const std::string resume = "cp bad.safetensors r.st && " + train("--steps 8 --resume --checkpoint r.st") + "; e=$?; rm -f r.st; exit $e";
  run_rows({
      {"model.hidden -1", crafted("model.hidden", "-1", eval), 2, {"model.hidden", "-1"}},
      {"model.hidden 0x10", crafted("model.hidden", "0x10", eval), 2, {"model.hidden"}},
      {"model.hidden absurd", crafted("model.hidden", "99999999999", eval), 2, {"model.hidden"}},
      {"model.layers 0", crafted("model.layers", "0", eval), 2, {"model.layers"}},
      {"model.embed missing", crafted("model.embed", "", eval), 2, {"model.embed"}},
      {"model.cell unknown", crafted("model.cell", "tree", eval), 2, {"model.cell", "tree"}},
      {"model.dropout nan", crafted("model.dropout", "nan", eval), 2, {"model.dropout"}},
      {"model.vocab disagrees", crafted("model.vocab", "3", eval), 2, {"vocabulary"}},
      {"vocab with a surrogate", crafted("vocab", "10,32,55296", eval), 2, {"vocab", "55296"}},
      {"vocab past U+10FFFF", crafted("vocab", "10,32,1114112", eval), 2, {"vocab"}},
      {"vocab in hexadecimal", crafted("vocab", "0xA,32", eval), 2, {"vocab"}},
      {"vocab repeats", crafted("vocab", "10,32,32", eval), 2, {"vocab", "repeated"}},
      {"vocab with an empty entry", crafted("vocab", "10,,32", eval), 2, {"vocab"}},
      {"a control character in a value is escaped", crafted("model.cell", "ls\x1b[2J", eval), 2,
       {"model.cell", "\\x1B"}},
      {"train.val_fraction nan (eval)", crafted("train.val_fraction", "nan", kCharLM + " eval --checkpoint bad.safetensors"),
       2, {"train.val_fraction"}},
      {"train.lr nan (resume)", crafted("train.lr", "nan", resume), 2, {"train.lr"}},
      {"train.lr negative (resume)", crafted("train.lr", "-0.5", resume), 2, {"train.lr"}},
      {"train.batch 0 (resume)", crafted("train.batch", "0", resume), 2, {"train.batch"}},
      {"train.seed -1 (resume)", crafted("train.seed", "-1", resume), 2, {"train.seed"}},
      {"train.optim unknown (resume)", crafted("train.optim", "lbfgs", resume), 2, {"train.optim"}},
      {"train.step -1 (resume)", crafted("train.step", "-1", resume), 2, {"train.step"}},
      {"train.step 0x10 (resume)", crafted("train.step", "0x10", resume), 2, {"train.step"}},
      {"train.schedule_steps 0 (resume)", crafted("train.schedule_steps", "0", resume), 2, {"train.schedule_steps"}},
      {"train.best_val nan (resume)", crafted("train.best_val", "nan", resume), 2, {"train.best_val"}},
      {"train.rng_state garbage (resume)", crafted("train.rng_state", "garbage", resume), 2, {"train.rng_state"}},
      {"model.hidden disagrees with the tensors", crafted("model.hidden", "2048", eval), 2,
       {"rnn.weight_ih_l0", "has shape"}},
      {"model.layers disagrees with the tensors (resume)", crafted("model.layers", "3", resume), 2,
       {"rnn.weight_ih_l1"}},
      {"model.hidden beyond the machine's memory", crafted("model.hidden", "16384", kCharLM + " eval --checkpoint bad.safetensors --data corpus.txt"),
       2, {"rnn.weight_ih_l0"}},
      {"a NaN weight", [eval](const tgtest::TempDir& d) {
         craft_value(d.file("bad.safetensors"), "rnn.weight_hh_l0", std::nanf(""));
         return eval;
       }, 2, {"rnn.weight_hh_l0"}},
      {"an infinite weight (resume)", [resume](const tgtest::TempDir& d) {
         craft_value(d.file("bad.safetensors"), "out.bias", std::numeric_limits<float>::infinity());
         return resume;
       }, 2, {"out.bias"}},
  });
}

TEST_CASE("hostile char_lm: divergence is exit 3 and names a checkpoint only when one was written") {
  run_rows({
      {"loss above 10 ln V, nothing saved", plain(train("--steps 30 --optim sgd --lr 1000 --clip 0 --checkpoint m.st")), 3,
       {"diverged", "above 10 ln V", "no checkpoint was written"}},
      {"non-finite, nothing saved", plain(train("--steps 30 --optim sgd --lr 1e37 --clip 0 --checkpoint m.st")), 3,
       {"diverged", "no checkpoint was written"}},
  });
  // With a checkpoint on disk, the message names it and its step, and it holds that step.
  tgtest::TempDir dir;
  fs::copy_file(fixture().corpus, dir.file("corpus.txt"));
  const Outcome o = run_shell("cd " + sh_quote(dir.path().string()) + " && " +
                                  train("--steps 30 --optim sgd --lr 1000 --clip 0 --save-every 1 --checkpoint m.st"),
                              dir);
  CHECK(o.code == 3);
  check_one_line(o.err);
  const std::string step = tg::read_checkpoint_metadata(dir.file("m.st")).at("train.step");
  CHECK_MESSAGE(o.err.find("the last good checkpoint (step " + step + ") is kept: m.st") != std::string::npos, o.err);
}

TEST_CASE("hostile char_lm: resuming past a cosine schedule's horizon is refused; a constant one continues") {
  tgtest::TempDir dir;
  fs::copy_file(fixture().corpus, dir.file("corpus.txt"));
  const std::string cd = "cd " + sh_quote(dir.path().string()) + " && ";
  REQUIRE(run_shell(cd + train("--steps 4 --lr-schedule cosine --checkpoint c.st"), dir).code == 0);
  const auto before = tgtest::read_bytes(dir.file("c.st"));
  const Outcome longer = run_shell(cd + kCharLM + " train --data corpus.txt --steps 8 --resume --checkpoint c.st", dir);
  CHECK(longer.code == 2);
  check_one_line(longer.err);
  CHECK_MESSAGE(longer.err.find("cosine schedule") != std::string::npos, longer.err);
  CHECK(tgtest::read_bytes(dir.file("c.st")) == before);
  REQUIRE(run_shell(cd + train("--steps 4 --checkpoint k.st"), dir).code == 0);
  const Outcome constant = run_shell(cd + kCharLM + " train --data corpus.txt --steps 8 --resume --checkpoint k.st", dir);
  CHECK_MESSAGE(constant.code == 0, constant.err);
}

TEST_CASE("hostile char_lm: a full disk or a file-size limit is exit 4 naming the file; the old checkpoint stays") {
  // Root-proof: `ulimit -f` with SIGXFSZ ignored makes write() fail with EFBIG.
  run_rows({
      {"checkpoint write fails (EFBIG)",
       plain("trap '' XFSZ; ulimit -f 4; " + train("--steps 2 --checkpoint m.st --overwrite")), 4,
       {"m.st", "File too large"}},
      {"resumed checkpoint write fails (EFBIG): the old one stays",
       plain("trap '' XFSZ; ulimit -f 4; " + kCharLM + " train --data corpus.txt --steps 6 --resume --checkpoint good.safetensors"),
       4, {"good.safetensors", "File too large"}},
      {"log write fails (EFBIG)", [](const tgtest::TempDir& d) {
         tgtest::write_bytes(d.file("run.csv"), tgtest::Bytes(4096, 'x'));  // already at the limit
         return "trap '' XFSZ; ulimit -f 4; " + train_bare("--data corpus.txt --steps 4 --print-every 1 --checkpoint m.st --log run.csv");
       }, 4, {"--log run.csv", "File too large"}},
  });
}

// AddressSanitizer reserves terabytes of address space for its shadow memory, so a
// `ulimit -v` child cannot even start under it: this case runs in the plain build only.
#if !defined(__SANITIZE_ADDRESS__)
TEST_CASE("hostile char_lm: too little memory is exit 4, not a crash") {
  run_rows({
      {"out of memory (ulimit -v)",
       plain("ulimit -v 1000000; " + kCharLM +
             " train --data corpus.txt --hidden 4096 --layers 2 --embed 8 --batch 4 --block 8 --steps 2 --checkpoint m.st"),
       4, {"out of memory", "--hidden"}},
  });
}
#endif

}  // TEST_SUITE

namespace {

// Starts `shell` in the background with stdout to `out` and stderr to `err`.
pid_t spawn_shell(const std::string& shell, const std::string& out, const std::string& err) {
  std::fflush(nullptr);  // or the child would write our buffered output a second time
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::freopen(out.c_str(), "w", stdout);
    std::freopen(err.c_str(), "w", stderr);
    execl("/bin/sh", "sh", "-c", ("exec " + shell).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Waits until `path` holds `text` (true), or the child ends or 20 s pass (false).
bool wait_for_text(pid_t pid, const std::string& path, const std::string& text) {
  for (int i = 0; i < 20000; ++i) {
    if (tgtest::read_text(path).find(text) != std::string::npos) return true;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    usleep(1000);
  }
  return false;
}

// Waits for the child's exit: its exit code (-1 if killed by a signal), and the seconds it took.
std::pair<int, double> wait_exit(pid_t pid) {
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  for (int i = 0; i < 20000 && waitpid(pid, &status, WNOHANG) != pid; ++i) usleep(1000);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (seconds >= 20) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, seconds};
}

// A corpus of ~`bytes` characters in `dir`.
std::string long_corpus(const tgtest::TempDir& dir, std::size_t bytes) {
  std::string text;
  for (std::size_t i = 0; text.size() < bytes; ++i) text += "it was the best of times, it was the worst of times " + std::to_string(i % 97) + "\n";
  const std::string path = dir.file("long.txt");
  tgtest::write_bytes(path, tgtest::Bytes(text.begin(), text.end()));
  return path;
}

// Starts `char_lm train FLAGS --checkpoint m.st` on a corpus of `bytes` characters in `dir`
// (stdout to dir/out, stderr to dir/err) and waits until stdout shows `ready`.
pid_t start_training(const tgtest::TempDir& dir, std::size_t bytes, const std::string& flags, const std::string& ready) {
  const std::string corpus = long_corpus(dir, bytes);
  const pid_t pid = spawn_shell(kCharLM + " train --data " + sh_quote(corpus) + " " + flags + " --checkpoint " +
                                    sh_quote(dir.file("m.st")),
                                dir.file("out"), dir.file("err"));
  REQUIRE(wait_for_text(pid, dir.file("out"), ready));
  return pid;
}

bool has_temp_file(const tgtest::TempDir& dir) {
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_SUITE("char_lm") {

TEST_CASE("hostile char_lm: SIGINT, SIGTERM, SIGHUP and SIGPIPE save a checkpoint and exit with 128 + N") {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) {
    CAPTURE(sig);
    tgtest::TempDir dir;
    const std::string ckpt = dir.file("m.st");
    const pid_t pid = start_training(dir, 200000, "--hidden 64 --batch 8 --block 32 --steps 100000 --print-every 1 "
                                     "--val-every 100000", "step 3/");
    kill(pid, sig);
    const auto [code, seconds] = wait_exit(pid);
    CHECK(code == 128 + sig);
    CHECK(seconds < 2);
    const std::string err = tgtest::read_text(dir.file("err"));
    check_one_line(err);
    CHECK_MESSAGE(err.find("checkpoint written to") != std::string::npos, err);
    const long step = std::stol(tg::read_checkpoint_metadata(ckpt).at("train.step"));
    CHECK(step >= 3);
    CHECK_FALSE(has_temp_file(dir));
  }
}

TEST_CASE("hostile char_lm: SIGINT during validation exits within 2 s, with a checkpoint") {
  tgtest::TempDir dir;
  const std::string ckpt = dir.file("m.st");
  // 90% of 3 MB validates after every step: the run is validating almost all the time.
  const pid_t pid = start_training(dir, 3000000, "--hidden 128 --batch 4 --block 16 --val-fraction 0.9 --val-every 1 "
                                   "--steps 1000", "model:");
  usleep(500000);  // well inside the first validation
  CHECK_MESSAGE(tgtest::read_text(dir.file("out")).find("step 1: validation") == std::string::npos,
                "the first validation ended before the signal: the case does not test what it says");
  kill(pid, SIGINT);
  const auto [code, seconds] = wait_exit(pid);
  CHECK(code == 128 + SIGINT);
  CHECK(seconds < 2);
  CHECK(tg::read_checkpoint_metadata(ckpt).at("train.step") == "1");
  CHECK_FALSE(has_temp_file(dir));
}

TEST_CASE("hostile char_lm: a second SIGINT exits within 1 s and leaves no half checkpoint") {
  tgtest::TempDir dir;
  const std::string ckpt = dir.file("m.st");
  // Slow steps (a large model), so the first SIGINT alone would wait for the step and the save.
  const pid_t pid = start_training(dir, 400000, "--hidden 1024 --layers 2 --batch 32 --block 64 --steps 1000 "
                                   "--print-every 1 --val-every 1000", "model:");
  kill(pid, SIGINT);
  usleep(20000);
  const auto second = std::chrono::steady_clock::now();
  kill(pid, SIGINT);
  const auto [code, seconds] = wait_exit(pid);
  const double since_second = std::chrono::duration<double>(std::chrono::steady_clock::now() - second).count();
  CHECK(code == 128 + SIGINT);
  CHECK(since_second < 1);
  CHECK_FALSE(has_temp_file(dir));
  if (fs::exists(ckpt)) CHECK_NOTHROW(tg::load_safetensors(ckpt));  // whole, if a save had begun
}

}  // TEST_SUITE

TEST_SUITE("char_lm") {

// tapegrad pins OpenBLAS's pthread build (cmake/TapegradBlas.cmake: linked by path, its folder
// as RUNPATH); LD_LIBRARY_PATH outranks RUNPATH, so it is the way another build still gets in.
TEST_CASE("hostile char_lm: another OpenBLAS build through LD_LIBRARY_PATH is exit 4 naming it, unless allowed") {
  const std::string serial = "/usr/lib/x86_64-linux-gnu/openblas-serial";
  if (!fs::exists(serial + "/libopenblas.so.0")) {
    MESSAGE("skipped: OpenBLAS's serial build is not installed (apt-get install libopenblas0-serial)");
    return;
  }
  run_rows({{"serial OpenBLAS", plain("LD_LIBRARY_PATH=" + serial + " " + train("--steps 1 --checkpoint m.st")), 4,
             {"OpenBLAS's pthread build", "its serial build", serial, "TAPEGRAD_ANY_BLAS=1"}}});
  tgtest::TempDir dir;
  fs::copy_file(fixture().corpus, dir.file("corpus.txt"));
  const Outcome allowed = run_shell("cd " + sh_quote(dir.path().string()) + " && TAPEGRAD_ANY_BLAS=1 LD_LIBRARY_PATH=" +
                                        serial + " " + train("--steps 1 --checkpoint m.st"), dir);
  CHECK_MESSAGE(allowed.code == 0, allowed.err);
  CHECK(fs::exists(dir.file("m.st")));
}

}  // TEST_SUITE

TEST_SUITE("char_lm") {

// TAPEGRAD_GEMM chooses who serves the small float products (Note [oneDNN for small products]):
// a value it does not know is refused before the first product, and "openblas" trains.
TEST_CASE("hostile char_lm: an unknown TAPEGRAD_GEMM is exit 4 naming it; openblas trains") {
  run_rows({{"TAPEGRAD_GEMM=fast", plain("TAPEGRAD_GEMM=fast " + train("--steps 1 --checkpoint m.st")), 4,
             {"TAPEGRAD_GEMM", "'auto' or 'openblas'", "'fast'"}}});
  tgtest::TempDir dir;
  fs::copy_file(fixture().corpus, dir.file("corpus.txt"));
  const Outcome openblas = run_shell("cd " + sh_quote(dir.path().string()) + " && TAPEGRAD_GEMM=openblas " +
                                         train("--steps 1 --checkpoint m.st"), dir);
  CHECK_MESSAGE(openblas.code == 0, openblas.err);
  CHECK(fs::exists(dir.file("m.st")));
}

}  // TEST_SUITE
