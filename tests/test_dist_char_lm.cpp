// char_lm train --distributed under `mpirun -np 2`, run as a user would (subprocesses):
// equivalence with a single process of the same global batch, exact resume with the same
// ranks, and errors that end the whole job (mismatched configuration, a failing rank).
// Skips cleanly when mpirun is absent.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>

#include <tapegrad/tapegrad.hpp>

#include "subprocess.hpp"
#include "temp_files.hpp"

namespace {

using Run = tgtest::CommandResult;

Run shell(const std::string& cmd) { return tgtest::run_command(cmd); }

bool have_mpirun() { return std::filesystem::exists(TAPEGRAD_MPIEXEC); }

// mpirun as root on a machine with fewer cores than ranks (both allowed here).
const std::string kMpirun = std::string(TAPEGRAD_MPIEXEC) + " --allow-run-as-root --oversubscribe";
const std::string kCharLM = TAPEGRAD_CHAR_LM;
// A small model, one BLAS thread per rank (deterministic), no dropout (Note: equivalence is
// exact only without dropout, whose masks each rank draws from its own stream).
const std::string kModel = " train --block 16 --hidden 48 --embed 16 --threads 1 --val-every 25 ";

// --batch B (the global batch) and the rest.
std::string with_batch(std::size_t batch, const std::string& args) { return "--batch " + std::to_string(batch) + " " + args; }

Run distributed(int ranks, const std::string& args) {
  return shell(kMpirun + " -np " + std::to_string(ranks) + " " + kCharLM + kModel + "--distributed " + args);
}

// max over elements |a - b| / max over elements |b|: the tensor's difference relative to its scale.
double relative_difference(const tg::StoredTensor& a, const tg::StoredTensor& b) {
  const auto& x = a.get<float>();
  const auto& y = b.get<float>();
  REQUIRE(x.shape() == y.shape());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(double(x.flat(i)) - double(y.flat(i))));
    scale = std::max(scale, std::abs(double(y.flat(i))));
  }
  return scale > 0 ? diff / scale : diff;
}

// The largest relative difference over the model's parameters and the carried state.
double largest_difference(const std::string& a_path, const std::string& b_path) {
  const tg::SafetensorsFile a = tg::load_safetensors(a_path), b = tg::load_safetensors(b_path);
  double worst = 0;
  std::size_t compared = 0;
  for (const auto& [name, tensor] : b.tensors) {
    if (name.rfind("optim.", 0) == 0) continue;  // parameters and extra.state.* only
    worst = std::max(worst, relative_difference(a.at(name), tensor));
    ++compared;
  }
  REQUIRE(compared >= 6);  // emb, 4 LSTM tensors, out, state
  return worst;
}

}  // namespace

TEST_SUITE("mpi") {

TEST_CASE("distributed char_lm: 2 ranks with B=8 end where 1 process with B=8 does") {
  if (!have_mpirun()) {
    MESSAGE("mpirun not found: skipped");
    return;
  }
  tgtest::TempDir dir;
  const std::string one = dir.file("one.safetensors"), two = dir.file("two.safetensors"),
                    half = dir.file("half.safetensors");
  const Run single = shell(kCharLM + kModel + with_batch(8, "--steps 50 --checkpoint " + one));
  REQUIRE_MESSAGE(single.code == 0, single.output);
  const Run ranks = distributed(2, with_batch(8, "--steps 50 --checkpoint " + two));
  REQUIRE_MESSAGE(ranks.code == 0, ranks.output);
  CHECK(tg::load_safetensors(two).metadata.at("train.ranks") == "2");
  const double diff = largest_difference(two, one);
  MESSAGE("largest relative parameter difference, 2 ranks vs 1 process: " << diff);
  CHECK(diff <= 1e-5);
  // The comparison can fail: a single process that trains on only 4 of the streams ends elsewhere.
  const Run fewer = shell(kCharLM + kModel + with_batch(4, "--steps 50 --checkpoint " + half));
  REQUIRE_MESSAGE(fewer.code == 0, fewer.output);
  const tg::SafetensorsFile a = tg::load_safetensors(half), b = tg::load_safetensors(one);
  CHECK(relative_difference(a.at("rnn.weight_hh_l0"), b.at("rnn.weight_hh_l0")) > 1e-3);
  // Only rank 0 prints: one "done:" line.
  const auto first = ranks.output.find("done:");
  CHECK(first != std::string::npos);
  CHECK(ranks.output.find("done:", first + 1) == std::string::npos);
}

TEST_CASE("distributed char_lm: resume with the same ranks continues exactly") {
  if (!have_mpirun()) {
    MESSAGE("mpirun not found: skipped");
    return;
  }
  tgtest::TempDir dir;
  const std::string whole = dir.file("whole.safetensors"), parts = dir.file("parts.safetensors");
  const Run straight = distributed(2, with_batch(8, "--steps 40 --checkpoint " + whole));
  REQUIRE_MESSAGE(straight.code == 0, straight.output);
  const Run first = distributed(2, with_batch(8, "--steps 20 --checkpoint " + parts));
  REQUIRE_MESSAGE(first.code == 0, first.output);
  const Run second = distributed(2, with_batch(8, "--steps 40 --resume --checkpoint " + parts));
  REQUIRE_MESSAGE(second.code == 0, second.output);
  CHECK(second.output.find("resumed at step 20") != std::string::npos);
  CHECK(largest_difference(parts, whole) == 0.0);
}

TEST_CASE("distributed char_lm: mismatched configuration across ranks is exit 2 at start") {
  if (!have_mpirun()) {
    MESSAGE("mpirun not found: skipped");
    return;
  }
  tgtest::TempDir dir;
  const std::string ckpt = with_batch(8, "--steps 5 --checkpoint " + dir.file("x.safetensors"));
  // MPMD: rank 0 and rank 1 get different --lr.
  const Run r = shell(kMpirun + " -np 1 " + kCharLM + kModel + "--distributed --lr 0.002 " + ckpt + " : -np 1 " +
                      kCharLM + kModel + "--distributed --lr 0.01 " + ckpt);
  CHECK(r.code == 2);
  CHECK_MESSAGE(r.output.find("configuration differs across ranks: --lr") != std::string::npos, r.output);
  CHECK(!std::filesystem::exists(dir.file("x.safetensors")));
}

TEST_CASE("distributed char_lm: a rank that fails ends the job with its message") {
  if (!have_mpirun()) {
    MESSAGE("mpirun not found: skipped");
    return;
  }
  tgtest::TempDir dir;
  const std::string ckpt = with_batch(8, "--steps 5 --checkpoint " + dir.file("x.safetensors"));
  // Rank 1 cannot read its corpus while rank 0 waits in the start-up check: no hang.
  const Run r = shell(kMpirun + " -np 1 " + kCharLM + kModel + "--distributed " + ckpt + " : -np 1 " + kCharLM +
                      kModel + "--distributed --data " + dir.file("missing.txt") + " " + ckpt);
  CHECK(r.code == 2);
  CHECK_MESSAGE(r.output.find("rank 1: char_lm: --data " + dir.file("missing.txt")) != std::string::npos, r.output);
  // Unequal shares would break the equivalence: B must be divisible by the ranks.
  const Run odd = distributed(2, "--batch 7 --steps 5 --checkpoint " + dir.file("x.safetensors"));
  CHECK(odd.code == 2);
  CHECK_MESSAGE(odd.output.find("--batch 7 is not divisible by the 2 ranks") != std::string::npos, odd.output);
}

TEST_CASE("distributed char_lm: divergence is exit 3 on every rank and keeps the last good checkpoint") {
  if (!have_mpirun()) {
    MESSAGE("mpirun not found: skipped");
    return;
  }
  tgtest::TempDir dir;
  const std::string ckpt = dir.file("x.safetensors");
  // The ranks see the same mean loss and the same averaged gradient, so they stop together.
  const Run r = distributed(2, with_batch(8, "--steps 100 --optim sgd --lr 1e37 --clip 0 --save-every 1 --checkpoint " +
                                                 ckpt));
  CHECK(r.code == 3);
  CHECK_MESSAGE(r.output.find("training diverged at step") != std::string::npos, r.output);
  REQUIRE(std::filesystem::exists(ckpt));
  CHECK_NOTHROW(tg::load_safetensors(ckpt));
}

}  // TEST_SUITE
