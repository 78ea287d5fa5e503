// tapegrad_bench: training throughput on the DESIGN §6 workload.
//   Embedding(V=65, E) -> cell (L layers, hidden H) -> Linear(H, V) -> cross-entropy,
//   Adam lr 2e-3, clip-norm 5, TBPTT with detach, float32, random tokens, fixed seed.
//   S: B=32, T=64, E=64, H=128, L=1 (op-overhead bound)   M: B=64, T=100, E=128, H=512, L=2 (GEMM bound)
// 3 warm-up steps, then K timed steps. utilization = time of just this step's GEMMs (same shapes,
// back to back through BLAS, in this process) / actual step time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/decimal_flags.hpp"
#include <nlohmann/json.hpp>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/pointwise_run.hpp>
#include <tapegrad/tapegrad.hpp>

#include "process_memory.hpp"
#include "workload.hpp"


int main(int argc, char** argv) {
  std::string config = "S", cell = "lstm";
  int threads = 1;
  std::size_t steps = 0;
  std::size_t rss_blocks = 0;
  std::size_t shards = 1;
  bool json = false;
  bool no_fusion = false, ab_fusion = false, profile = false;
  CLI::App app{"tapegrad_bench: training tokens/s on the DESIGN §6 workload", "tapegrad_bench"};
  app.add_option("--config", config, "S or M")->check(CLI::IsMember({"S", "M"}));
  app.add_option("--cell", cell, "lstm, gru, rnn, or lnlstm (the LayerNorm-LSTM cell, a user cell)")
      ->check(CLI::IsMember({"lstm", "gru", "rnn", "lnlstm"}));
  app.add_option("--threads", threads, "BLAS threads")->check(CLI::Range(1, 256));
  app.add_option("--steps", steps, "timed steps (default 100 for S, 6 for M)");
  app.add_flag("--json", json, "print one JSON line");
  app.add_option("--shards", shards,
                 "train data-parallel on the pool's threads (tg::DataParallel): N replicas, B/N streams each "
                 "(default 1: one model, threads inside the ops)")
      ->check(CLI::Range(std::size_t(1), std::size_t(256)));
  app.add_flag("--no-fusion", no_fusion,
               "run every pointwise op's backward alone (Note [pointwise runs]), to measure what fusion buys");
  app.add_flag("--ab-fusion", ab_fusion,
               "instead of tokens/s: time the steps in pairs, one with fusion and one without (the order "
               "flips every pair), and report the per-pair time ratio fused / unfused (min, median, max)");
  app.add_flag("--profile", profile,
               "instead of tokens/s: the median ms per step of each phase (embedding, recurrent forward, head, "
               "cross-entropy, backward, clip + Adam) over the timed steps, as the oneDNN reference's --profile "
               "prints them (one model: not with --shards)");
  app.add_option("--rss-blocks", rss_blocks,
                 "instead of timing: train N TBPTT blocks from a fresh start and report the RSS after the "
                 "first and after the N-th (memory must not grow across blocks)")
      ->check(CLI::Range(std::size_t(2), std::size_t(100000)));
  if (const int code = tgex::parse_command_line(app, argc, argv); code >= 0) return code;
  const tgbench::WorkloadShape w = tgbench::workload_shape(config);
  if (steps == 0) steps = w.steps;
  tg::set_num_threads(threads);
  tg::detail::set_pointwise_fusion_enabled(!no_fusion);
  if (w.B % shards != 0) {
    std::fprintf(stderr, "tapegrad_bench: --shards %zu does not divide the batch of %zu streams\n", shards, w.B);
    return 2;
  }
  if (profile && shards != 1) {
    std::fprintf(stderr, "tapegrad_bench: --profile times one model's phases; it cannot be used with --shards\n");
    return 2;
  }
  // Shard s trains streams [s B/N, (s + 1) B/N); every shard's model starts from the same seed,
  // and the replicas read shard 0's parameters (tg::DataParallel binds them).
  std::vector<std::unique_ptr<tgbench::Workload>> shard;
  for (std::size_t s = 0; s < shards; ++s)
    shard.push_back(std::make_unique<tgbench::Workload>(w, cell, s * (w.B / shards), w.B / shards));
  std::vector<std::vector<tg::Tensor>> replicas;
  for (std::size_t s = 1; s < shards; ++s) replicas.push_back(shard[s]->params());
  tg::DataParallel data_parallel(shard[0]->params(), replicas);
  tgbench::Workload& workload = *shard[0];
  auto step = [&] {
    if (shards == 1) workload.forward_backward();
    else data_parallel.run([&](std::size_t s) { shard[s]->forward_backward(); });
    workload.update();
  };

  if (rss_blocks) {  // one step = one TBPTT block: state carried, graph detached at the boundary
    step();
    const double after_first = tgbench::rss_mib();
    for (std::size_t i = 1; i < rss_blocks; ++i) step();
    const double after_last = tgbench::rss_mib();
    std::cout << nlohmann::json{{"config", config}, {"cell", cell}, {"threads", threads}, {"blocks", rss_blocks},
                                {"rss_after_1_block_mb", after_first}, {"rss_after_n_blocks_mb", after_last},
                                {"growth_percent", 100 * (after_last - after_first) / after_first}}
                     .dump()
              << "\n";
    return 0;
  }
  for (int i = 0; i < 3; ++i) step();  // warm-up
  if (profile) {
    std::vector<tgbench::Workload::Phases> runs;
    for (std::size_t i = 0; i < steps; ++i) runs.push_back(workload.profiled_step());
    const auto median = [&](double tgbench::Workload::Phases::*phase) {
      std::vector<double> v;
      for (const auto& r : runs) v.push_back(r.*phase);
      std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
      return v[v.size() / 2];
    };
    using P = tgbench::Workload::Phases;
    const P m{median(&P::emb_fwd), median(&P::rnn_fwd), median(&P::head_fwd),
              median(&P::ce), median(&P::backward), median(&P::clip_adam)};
    std::printf("PROFILE ms_per_step emb_fwd=%.3f rnn_fwd=%.3f head_fwd=%.3f softmax_ce=%.3f backward=%.3f "
                "clip_adam=%.3f sum=%.3f\n",
                m.emb_fwd, m.rnn_fwd, m.head_fwd, m.ce, m.backward, m.clip_adam, m.total());
    // Whole steps: a mean above the median means slow outliers the medians above hide.
    std::vector<double> totals;
    for (const auto& r : runs) totals.push_back(r.total());
    std::sort(totals.begin(), totals.end());
    double mean = 0;
    for (double t : totals) mean += t / double(totals.size());
    std::printf("STEPS ms min=%.3f median=%.3f mean=%.3f p90=%.3f max=%.3f\n", totals.front(),
                totals[totals.size() / 2], mean, totals[totals.size() * 9 / 10], totals.back());
    return 0;
  }
  if (ab_fusion) {  // alternating step by step: a drift of the host's speed hits both sides alike
    auto timed = [&](bool fuse) {
      tg::detail::set_pointwise_fusion_enabled(fuse);
      const auto t0 = std::chrono::steady_clock::now();
      step();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    std::vector<double> ratios;
    for (std::size_t i = 0; i < steps; ++i) {
      const bool fused_first = i % 2 == 0;
      const double a = timed(fused_first), b = timed(!fused_first);
      ratios.push_back(fused_first ? a / b : b / a);
    }
    std::sort(ratios.begin(), ratios.end());
    std::cout << nlohmann::json{{"config", config}, {"cell", cell}, {"threads", threads}, {"pairs", steps},
                                {"fused_over_unfused_time", {ratios.front(), ratios[ratios.size() / 2], ratios.back()}}}
                     .dump()
              << "\n";
    return 0;
  }
  const double rss_baseline = tgbench::rss_mib();
  tg::detail::start_gemm_recording();
  step();  // one more untimed step, to learn its GEMM shapes
  const std::vector<tg::detail::GemmShape> gemms = tg::detail::stop_gemm_recording();
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < steps; ++i) step();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double peak = tgbench::peak_rss_mib();  // before the GEMM calibration
  // The calibration replays one model's step; sharded, the shards' GEMMs ran on several threads
  // at once (and the recording saw only this thread's), so there is no such figure.
  const bool calibrated = shards == 1;
  double gemm_seconds = 1e30;
  for (int r = 0; calibrated && r < 3; ++r) gemm_seconds = std::min(gemm_seconds, tg::detail::replay_gemms(gemms));
  const double step_seconds = seconds / double(steps);
  double gemm_flop = 0;  // per step: 2 M N K per product
  for (const auto& g : gemms) gemm_flop += 2.0 * double(g.M) * double(g.N) * double(g.K);
  const double tokens_per_s = double(w.B * w.T * steps) / seconds;
  const nlohmann::json none;  // null
  if (json) {
    std::cout << nlohmann::json{{"config", config}, {"cell", cell}, {"threads", threads}, {"shards", shards},
                                {"steps", steps}, {"tokens_per_s", tokens_per_s}, {"ms_per_step", 1000 * step_seconds},
                                {"rss_baseline_mb", rss_baseline}, {"peak_rss_mb", peak},
                                {"gemms_per_step", calibrated ? nlohmann::json(gemms.size()) : none},
                                {"utilization", calibrated ? nlohmann::json(gemm_seconds / step_seconds) : none},
                                {"gemm_gflop_per_step", calibrated ? nlohmann::json(gemm_flop / 1e9) : none},
                                {"ms_per_gemm_gflop", calibrated ? nlohmann::json(1000 * step_seconds / (gemm_flop / 1e9)) : none},
                                {"blas", tg::blas_library().config},
                                {"small_gemm", tg::small_gemm_library()}}
                     .dump()
              << "\n";
  } else if (calibrated) {
    std::printf("config %s cell %s threads %d: %.0f tokens/s, %.2f ms/step, utilization %.2f (%zu GEMMs, %.2f ms), "
                "RSS %.0f MB (peak %.0f MB)\n",
                config.c_str(), cell.c_str(), threads, tokens_per_s, 1000 * step_seconds, gemm_seconds / step_seconds,
                gemms.size(), 1000 * gemm_seconds, rss_baseline, peak);
  } else {
    std::printf("config %s cell %s threads %d shards %zu: %.0f tokens/s, %.2f ms/step, RSS %.0f MB (peak %.0f MB)\n",
                config.c_str(), cell.c_str(), threads, shards, tokens_per_s, 1000 * step_seconds, rss_baseline, peak);
  }
}
