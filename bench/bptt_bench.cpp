// tapegrad_bptt_bench: full BPTT over one long sequence, with and without checkpointing.
//   Config S: Embedding(V=65, E=64) -> LSTM(H=128) -> Linear(128, 65) -> cross-entropy, B=32,
//   random tokens, Adam lr 2e-3. One iteration = forward over all T steps, the loss, backward
//   through all of them (no truncation), an Adam step.
// Run each configuration in its own process: the peak RSS (ru_maxrss) is per process.
//   tapegrad_bptt_bench --steps 10000 --mode plain
//   tapegrad_bptt_bench --steps 100000 --mode checkpoint --budget-mib 256
#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include <CLI/CLI.hpp>
#include <xtensor/xview.hpp>
#include <nlohmann/json.hpp>

#include <tapegrad/tapegrad.hpp>

#include "process_memory.hpp"

namespace {

using tgbench::peak_rss_mib;
using tgbench::rss_mib;

constexpr std::size_t V = 65, B = 32, E = 64, H = 128;

struct Model {
  tg::Embedding embed{V, E};
  tg::LSTM lstm{E, H};
  tg::Linear head{H, V};
  std::vector<tg::Tensor> parameters() const {
    std::vector<tg::Tensor> ps = embed.parameters();
    for (const auto& p : lstm.parameters()) ps.push_back(p);
    for (const auto& p : head.parameters()) ps.push_back(p);
    return ps;
  }
  // The summed cross-entropy of steps ids [k, B, 2] (input id, target id) from `state` (h, c).
  tg::SegmentOutput run(const tg::IdTensor& ids, const std::vector<tg::Tensor>& state) const {
    const std::size_t k = ids.shape()[0];
    const xt::xarray<std::int64_t> in = xt::view(ids.array(), xt::all(), xt::all(), 0);       // [k, B]
    const xt::xarray<std::int64_t> target = xt::view(ids.array(), xt::all(), xt::all(), 1);   // [k, B]
    const auto out = lstm(embed(tg::IdTensor(in)), {state});                                 // [k, B, H]
    const tg::Tensor logits = head(tg::reshape(out.output, {k * B, H}));                     // [k B, V]
    const xt::xarray<std::int64_t> flat = xt::reshape_view(target, {k * B});
    const tg::Tensor loss = tg::cross_entropy(logits, tg::IdTensor(flat)) * float(k * B);    // a sum
    return {loss, out.state(0)};
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t steps = 1000, segment = 0, iterations = 1;
  double budget_mib = 0;
  std::string mode = "checkpoint";
  int threads = 1;
  bool json = false;
  CLI::App app{"tapegrad_bptt_bench: full BPTT over one sequence, plain or checkpointed"};
  app.add_option("--steps", steps, "sequence length T")->check(CLI::Range(std::size_t(1), std::size_t(10'000'000)));
  app.add_option("--mode", mode, "plain (one graph over all T steps) or checkpoint")
      ->check(CLI::IsMember({"plain", "checkpoint"}));
  app.add_option("--budget-mib", budget_mib,
                 "checkpoint: the process's peak memory target; what the process holds before the first "
                 "iteration and the ids are taken off it, the rest is run_checkpointed's budget")
      ->check(CLI::Range(1.0, 1e6));
  app.add_option("--segment", segment, "checkpoint: a fixed segment length instead of a budget")
      ->check(CLI::Range(std::size_t(1), std::size_t(10'000'000)));
  app.add_option("--iterations", iterations, "timed iterations after one warm-up")->check(CLI::Range(1, 100));
  app.add_option("--threads", threads, "BLAS threads")->check(CLI::Range(1, 256));
  app.add_flag("--json", json, "print one JSON line");
  try {
    app.parse(argc, argv);
    if (mode == "checkpoint" && (budget_mib > 0) == (segment > 0))
      throw CLI::ValidationError("--mode checkpoint", "needs exactly one of --budget-mib and --segment");
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::Error& e) {
    std::cerr << "tapegrad_bptt_bench: " << e.what() << "\n";
    return 2;
  }
  tg::set_num_threads(threads);
  tg::manual_seed(0);
  const Model model;
  tg::Adam adam(model.parameters(), tg::AdamOptions(2e-3));
  // The tokens as bytes [T, B, 2]; each iteration makes its int64 ids from them and moves them
  // into run_checkpointed, so one copy of the ids is alive (the O(T) state besides the boundaries).
  const xt::xarray<std::uint8_t> tokens = xt::cast<std::uint8_t>(xt::floor(tg::uniform<double>({steps, B, 2}, 0, double(V))));
  const auto fn = [&model](const tg::IdTensor& i, const std::vector<tg::Tensor>& s) { return model.run(i, s); };
  // The budget left for run_checkpointed: the target less the process so far and the int64 ids.
  const double held_mib = rss_mib() + double(steps * B * 2 * sizeof(std::int64_t)) / (1024.0 * 1024.0);
  if (mode == "checkpoint" && !segment && budget_mib <= held_mib) {
    std::cerr << "tapegrad_bptt_bench: --budget-mib " << budget_mib << " is below what the process holds before "
              << "training (" << held_mib << " MiB with the ids)\n";
    return 2;
  }
  const std::size_t run_budget = std::size_t((budget_mib - held_mib) * 1024 * 1024);
  std::size_t k = steps, graph_bytes = 0, live_bytes = 0;
  double rss_after_forward = 0;
  double loss = 0;
  std::vector<double> seconds;
  for (std::size_t it = 0; it <= iterations; ++it) {  // iteration 0 warms up
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<tg::Tensor> state = model.lstm.initial_state(B)[0];  // h, c [B, H]
    tg::Tensor total;
    tg::IdTensor ids(xt::xarray<std::int64_t>(xt::cast<std::int64_t>(tokens)));  // [T, B, 2]
    if (mode == "plain") {
      total = model.run(ids, state).loss;
    } else {
      const tg::SegmentLength length = segment ? tg::SegmentLength::steps(segment) : tg::SegmentLength::memory(run_budget);
      auto run = tg::run_checkpointed(std::move(ids), state, fn, length);
      total = run.loss;
      k = run.segment_steps;
    }
    graph_bytes = tg::tape_stats().recorded_bytes;
    live_bytes = tg::memory_stats().live_bytes;
    rss_after_forward = rss_mib();
    tg::Tensor mean = total / float(steps * B);
    mean.backward();
    adam.step();
    adam.zero_grad();
    loss = mean.item();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  seconds.erase(seconds.begin());
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  const double tokens_per_iteration = double(steps * B);
  const nlohmann::json out = {{"mode", mode}, {"steps", steps}, {"segment_steps", k}, {"threads", threads},
                              {"budget_mib", budget_mib}, {"run_budget_mib", double(run_budget) / (1024.0 * 1024.0)},
                              {"iterations", iterations},
                              {"seconds_per_iteration", median}, {"us_per_token", 1e6 * median / tokens_per_iteration},
                              {"tokens_per_s", tokens_per_iteration / median}, {"peak_rss_mib", peak_rss_mib()},
                              {"graph_mib_after_forward", double(graph_bytes) / (1024.0 * 1024.0)},
                              {"tensor_mib_after_forward", double(live_bytes) / (1024.0 * 1024.0)},
                              {"rss_mib_after_forward", rss_after_forward}, {"loss", loss}};
  if (json) std::cout << out.dump() << "\n";
  else std::cout << out.dump(2) << "\n";
  return 0;
}
