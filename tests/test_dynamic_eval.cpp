// char_lm eval --dynamic (examples/char_lm/dynamic_eval.cpp), run as a subprocess: a zero step
// size gives the static loss, adapting to a repeated text lowers the loss, the checkpoint is
// never written, and --dynamic-tune reports on the second half what it tuned on the first.
#include <sys/stat.h>

#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

#include "subprocess.hpp"
#include "temp_files.hpp"

namespace {

using Run = tgtest::CommandResult;

Run run(const std::string& args) { return tgtest::run_command(std::string(TAPEGRAD_CHAR_LM) + " " + args); }

// The JSON line `char_lm eval ... --json` ends with.
nlohmann::json eval_json(const std::string& args) {
  const Run r = run("eval --json " + args);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  const std::size_t end = r.output.find_last_not_of('\n');
  REQUIRE(end != std::string::npos);
  const std::size_t line = r.output.rfind('\n', end);  // the last line starts after it
  return nlohmann::json::parse(r.output.substr(line == std::string::npos ? 0 : line + 1));
}

// A small model trained briefly on 20,000 characters of tinyshakespeare (made once; ~1 s).
struct Trained {
  tgtest::TempDir dir;
  std::string corpus = dir.file("corpus.txt"), checkpoint = dir.file("m.safetensors");
  std::string shakespeare = tgtest::read_text(TAPEGRAD_SOURCE_DIR "/examples/char_lm/builtin_corpus.txt");
  Trained() {
    tgtest::write_text(corpus, shakespeare.substr(0, 20000));
    const Run r = run("train --data " + corpus + " --steps 600 --hidden 64 --embed 16 --batch 8 --block 32 "
                      "--seed 1 --val-every 1000 --print-every 1000 --checkpoint " + checkpoint);
    REQUIRE_MESSAGE(r.code == 0, r.output);
  }
};
Trained& trained() {
  static Trained t;
  return t;
}

}  // namespace

TEST_SUITE("char_lm") {

TEST_CASE("dynamic eval: a zero step size gives exactly the static loss") {
  const Trained& t = trained();
  // In the static evaluation's 1,024-step blocks (the validation split is two of them), the
  // same arithmetic: bit for bit, so the step between the blocks left every weight as it was.
  const nlohmann::json same = eval_json("--checkpoint " + t.checkpoint + " --dynamic --dynamic-lr 0 --dynamic-block 1024");
  CHECK(same["dynamic"]["loss_static"].get<double>() == same["val_loss"].get<double>());
  CHECK(same["dynamic"]["loss_dynamic"].get<double>() == same["val_loss"].get<double>());
  // In 20-step segments the sum of the same predictions is taken in another order.
  const nlohmann::json short_blocks = eval_json("--checkpoint " + t.checkpoint + " --dynamic --dynamic-lr 0 --dynamic-block 20");
  CHECK(short_blocks["dynamic"]["loss_dynamic"].get<double>() ==
        doctest::Approx(short_blocks["val_loss"].get<double>()).epsilon(1e-6));
}

TEST_CASE("dynamic eval: adapting to a text that repeats lowers its loss well below the static one") {
  const Trained& t = trained();
  tgtest::TempDir dir;
  const std::string segment = t.shakespeare.substr(30000, 300);  // text the model never trained on
  std::string text;
  for (int i = 0; i < 6; ++i) text += segment;
  tgtest::write_text(dir.file("repeated.txt"), text);
  const nlohmann::json j = eval_json("--checkpoint " + t.checkpoint + " --data " + dir.file("repeated.txt") +
                                     " --dynamic --dynamic-lr 1e-3 --dynamic-decay 0 --dynamic-block 10");
  const double static_loss = j["dynamic"]["loss_static"], dynamic_loss = j["dynamic"]["loss_dynamic"];
  MESSAGE("static " << static_loss << " nats/char, dynamic " << dynamic_loss);
  CHECK(static_loss == j["val_loss"].get<double>());
  CHECK(dynamic_loss < static_loss - 0.3);  // measured: 2.15 -> 1.64
}

TEST_CASE("dynamic eval: the checkpoint file is byte-identical afterwards") {
  const Trained& t = trained();
  struct stat before_stat{};
  REQUIRE(::stat(t.checkpoint.c_str(), &before_stat) == 0);
  const tgtest::Bytes before = tgtest::read_bytes(t.checkpoint);
  eval_json("--checkpoint " + t.checkpoint + " --dynamic --dynamic-lr 1e-3");
  eval_json("--checkpoint " + t.checkpoint + " --dynamic-tune --dynamic-block 50");
  struct stat after_stat{};
  REQUIRE(::stat(t.checkpoint.c_str(), &after_stat) == 0);
  CHECK(tgtest::read_bytes(t.checkpoint) == before);
  CHECK(after_stat.st_mtim.tv_sec == before_stat.st_mtim.tv_sec);
  CHECK(after_stat.st_mtim.tv_nsec == before_stat.st_mtim.tv_nsec);
}

TEST_CASE("dynamic eval: --dynamic-tune picks the grid's best on the first half and reports on the second") {
  const Trained& t = trained();
  const std::string ckpt = " --checkpoint " + t.checkpoint;
  const nlohmann::json j = eval_json(ckpt + " --dynamic-tune --dynamic-block 50");
  CHECK(j["part"] == "second-half");
  CHECK(j["evaluated"] == "validation");
  const nlohmann::json& d = j["dynamic"];
  CHECK(d["tuned_on"] == "first-half");
  REQUIRE(d["grid"].size() >= 5);
  double best = 1e9;
  for (const auto& g : d["grid"]) best = std::min(best, g["loss"].get<double>());
  // The first grid entry with the lowest first-half loss is the one reported.
  for (const auto& g : d["grid"])
    if (g["loss"].get<double>() == best) {
      CHECK(d["lr"] == g["lr"]);
      CHECK(d["decay"] == g["decay"]);
      break;
    }
  // The same figures as asking for the second half with those settings.
  const nlohmann::json again = eval_json(ckpt + " --part second-half --dynamic --dynamic-block 50 --dynamic-lr " +
                                         d["lr"].dump() + " --dynamic-decay " + d["decay"].dump());
  CHECK(again["val_loss"] == j["val_loss"]);
  CHECK(again["dynamic"]["loss_dynamic"] == d["loss_dynamic"]);
  // The second half alone, statically, is what val_loss reports.
  CHECK(eval_json(ckpt + " --part second-half")["val_loss"] == j["val_loss"]);
}

}  // TEST_SUITE
