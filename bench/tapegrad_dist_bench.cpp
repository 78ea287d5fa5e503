// tapegrad_dist_bench: data-parallel training throughput under `mpirun -np N` (tapegrad::dist).
// The DESIGN §6 workload (bench/workload.hpp) with its global batch B split over the N ranks
// (B/N streams each), gradients averaged by one fused MPI_Allreduce per step:
//   forward + backward on B/N streams -> allreduce (mean) -> clip-norm 5 -> Adam step.
// 3 warm-up steps, then K timed steps. Rank 0 prints one line (or JSON) with:
//   tokens_per_s           B*T*K / seconds (the whole job's training tokens)
//   allreduce_ms_per_step  time inside MPI_Allreduce per step, rank 0 (includes waiting for a
//                          slower rank: with unequal progress that wait lands here)
//   allreduce_only_ms      the same allreduce after a barrier, median of 10: the transfer itself
//   mb_per_step            the gradient buffer, parameter count x 4 bytes
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/decimal_flags.hpp"
#include <nlohmann/json.hpp>

#include <tapegrad/dist/dist.hpp>
#include <tapegrad/tapegrad.hpp>

#include "workload.hpp"

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

int main(int argc, char** argv) {
  tg::dist::Session mpi(argc, argv);
  std::string config = "M", cell = "lstm";
  int threads = 1;
  std::size_t steps = 0;
  bool json = false;
  CLI::App app{"tapegrad_dist_bench: data-parallel tokens/s under mpirun -np N"};
  app.add_option("--config", config, "S or M")->check(CLI::IsMember({"S", "M"}));
  app.add_option("--cell", cell, "lstm, gru or rnn")->check(CLI::IsMember({"lstm", "gru", "rnn"}));
  app.add_option("--threads", threads, "BLAS threads per rank")->check(CLI::Range(1, 256));
  app.add_option("--steps", steps, "timed steps (default 100 for S, 6 for M)");
  app.add_flag("--json", json, "print one JSON line");
  try {
    tgex::decimal_numbers(app);
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    if (tg::dist::is_root()) app.exit(e);
    return 0;
  } catch (const CLI::ParseError& e) {
    tg::dist::abort(std::string("tapegrad_dist_bench: ") + e.what(), 2);
  }
  const int ranks = tg::dist::world_size();
  const tgbench::WorkloadShape w = tgbench::workload_shape(config);
  if (steps == 0) steps = w.steps;
  if (w.B % std::size_t(ranks) != 0)
    tg::dist::abort("tapegrad_dist_bench: B=" + std::to_string(w.B) + " is not divisible by " + std::to_string(ranks) +
                    " ranks", 2);
  const std::size_t share = w.B / std::size_t(ranks);  // streams per rank
  tg::set_num_threads(threads);
  tgbench::Workload workload(w, cell, std::size_t(tg::dist::rank()) * share, share);
  tg::dist::broadcast_parameters(workload.params());
  tg::dist::GradientAllreduce grads(workload.params());
  auto step = [&] {
    workload.forward_backward();
    grads.average();
    workload.update();
  };

  for (int i = 0; i < 3; ++i) step();  // warm-up
  tg::dist::barrier();
  const double allreduce_before = grads.seconds_in_allreduce();
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < steps; ++i) step();
  const double seconds = since(t0);
  const double allreduce_seconds = grads.seconds_in_allreduce() - allreduce_before;
  // The transfer alone: every rank arrives together (barrier), then one allreduce.
  std::vector<double> alone;
  for (int r = 0; r < 10; ++r) {
    tg::dist::barrier();
    const double before = grads.seconds_in_allreduce();
    grads.average();
    alone.push_back(grads.seconds_in_allreduce() - before);
  }
  std::sort(alone.begin(), alone.end());
  const double allreduce_only_ms = 1000 * alone[alone.size() / 2];
  if (!tg::dist::is_root()) return 0;
  const double step_ms = 1000 * seconds / double(steps);
  const double tokens_per_s = double(w.B * w.T * steps) / seconds;
  const double allreduce_ms = 1000 * allreduce_seconds / double(steps);
  const double mb = double(grads.numel()) * 4.0 / 1e6;
  if (json) {
    std::cout << nlohmann::json{{"config", config}, {"cell", cell}, {"ranks", ranks}, {"threads", threads},
                                {"steps", steps}, {"tokens_per_s", tokens_per_s}, {"ms_per_step", step_ms},
                                {"allreduce_ms_per_step", allreduce_ms}, {"allreduce_share", allreduce_ms / step_ms},
                                {"allreduce_only_ms", allreduce_only_ms}, {"parameters", grads.numel()},
                                {"mb_per_step", mb}}
                     .dump()
              << "\n";
  } else {
    std::printf("config %s cell %s ranks %d x %d thread(s): %.0f tokens/s, %.1f ms/step, allreduce %.2f ms/step "
                "(%.1f%% of the step; %.2f ms after a barrier), %zu parameters = %.2f MB per step\n",
                config.c_str(), cell.c_str(), ranks, threads, tokens_per_s, step_ms, allreduce_ms,
                100 * allreduce_ms / step_ms, allreduce_only_ms, grads.numel(), mb);
  }
  return 0;
}
