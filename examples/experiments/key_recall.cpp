#include "key_recall.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>

#include <tapegrad/tapegrad.hpp>
#include <xtensor/xview.hpp>

#include "common/svg_plot.hpp"

namespace tgexp {
namespace {

using Tensor = tg::Tensor;
using State = std::vector<Tensor>;
constexpr std::int64_t kNoTarget = -1;

// ids [T, B, 2]: channel 0 the input token, channel 1 the key at the query step and kNoTarget
// elsewhere. Tokens: keys 0..K-1, distractors K..K+M-1, the query K+M.
tg::IdTensor make_batch(const KeyRecallConfig& c, std::size_t D, std::size_t B, std::mt19937_64& rng) {
  const std::size_t T = D + 2;
  std::uniform_int_distribution<std::int64_t> key(0, std::int64_t(c.keys) - 1);
  std::uniform_int_distribution<std::int64_t> distractor(std::int64_t(c.keys), std::int64_t(c.keys + c.distractor_tokens) - 1);
  xt::xarray<std::int64_t> ids = xt::full_like(xt::xarray<std::int64_t>::from_shape({T, B, 2}), kNoTarget);
  for (std::size_t b = 0; b < B; ++b) {
    const std::int64_t k = key(rng);
    ids(0, b, 0) = k;
    for (std::size_t t = 1; t <= D; ++t) ids(t, b, 0) = distractor(rng);
    ids(T - 1, b, 0) = std::int64_t(c.keys + c.distractor_tokens);
    ids(T - 1, b, 1) = k;
  }
  return tg::IdTensor(std::move(ids));
}

struct RecallModel {
  tg::Embedding embed;
  tg::LSTMCell cell;
  tg::Linear head;
  RecallModel(const KeyRecallConfig& c, double forget_bias)
      : embed(c.keys + c.distractor_tokens + 1, c.embedding),
        cell(c.embedding, c.hidden_size, /*forget_bias_one=*/true),
        head(c.hidden_size, c.keys) {
    // Gate order i | f | g | o: the forget gate's bias is b_ih[H, 2H) (b_hh's stays 0).
    float* b = cell.bias_ih.mutable_data<float>();
    for (std::size_t j = c.hidden_size; j < 2 * c.hidden_size; ++j) b[j] = float(forget_bias);
  }
  std::vector<Tensor> parameters() const {
    std::vector<Tensor> ps = embed.parameters();
    for (const auto& p : cell.parameters()) ps.push_back(p);
    for (const auto& p : head.parameters()) ps.push_back(p);
    return ps;
  }
  // The segment ids [k, B, 2] from `state`: the mean cross-entropy at the query step if the
  // segment holds it (0 otherwise), and the state after the segment. *logits gets the query
  // step's [B, K] logits.
  tg::SegmentOutput run(const tg::IdTensor& ids, const State& state, Tensor* logits = nullptr) const {
    const std::size_t k = ids.shape()[0], B = ids.shape()[1];
    const xt::xarray<std::int64_t> inputs = xt::view(ids.array(), xt::all(), xt::all(), 0);  // [k, B]
    const Tensor x = tg::reshape(embed(tg::IdTensor(inputs)), {k * B, embed.weight.shape()[1]});  // [k*B, E]
    const Tensor xp = cell.project_input(x);  // [k*B, 4H]
    State s = state;
    Tensor loss = Tensor::scalar(0.0f);
    for (std::size_t t = 0; t < k; ++t) {
      s = cell.step(tg::slice(xp, 0, t * B, B), s);
      if (ids.array()(t, 0, 1) == kNoTarget) continue;
      const xt::xarray<std::int64_t> key = xt::view(ids.array(), t, xt::all(), 1);  // [B]
      const Tensor out = head(s[0]);  // [B, K]
      loss = loss + tg::cross_entropy(out, tg::IdTensor(key));
      if (logits) *logits = out;
    }
    return {loss, s};
  }
};

// Truncated BPTT over blocks of k steps, cut so the last block ends at the query: the query's
// gradient reaches back k - 1 steps, the most truncation at k allows. The blocks before it hold
// no loss (their backward would be zero), so they run without a graph; only the state's value
// crosses a block boundary.
double truncated_step(const RecallModel& m, const tg::IdTensor& ids, std::size_t k, std::size_t* graph_bytes) {
  const std::size_t T = ids.shape()[0], B = ids.shape()[1];
  State s = m.cell.initial_state(B);
  std::size_t begin = 0;
  if (T > k) {
    tg::NoGradGuard no_grad;
    const std::size_t n = T - k;
    const xt::xarray<std::int64_t> head = xt::view(ids.array(), xt::range(0, n), xt::all(), xt::all());
    for (std::size_t b = 0; b < n; b += k) {
      const std::size_t len = std::min(k, n - b);
      s = m.run(tg::IdTensor(xt::xarray<std::int64_t>(xt::view(head, xt::range(b, b + len), xt::all(), xt::all()))), s).state;
    }
    begin = n;
  }
  for (auto& t : s) t = t.detach();
  const tg::IdTensor last(xt::xarray<std::int64_t>(xt::view(ids.array(), xt::range(begin, T), xt::all(), xt::all())));
  Tensor loss = m.run(last, s).loss;
  *graph_bytes = tg::tape_stats().recorded_bytes;
  loss.backward();
  return loss.item();
}

// Full BPTT through all T steps, each segment of k steps checkpointed.
double full_step(const RecallModel& m, const tg::IdTensor& ids, std::size_t k, std::size_t* graph_bytes) {
  const auto fn = [&m](const tg::IdTensor& i, const State& s) { return m.run(i, s); };
  auto run = tg::run_checkpointed(ids, m.cell.initial_state(ids.shape()[1]), fn, tg::SegmentLength::steps(k));
  *graph_bytes = tg::tape_stats().recorded_bytes;
  run.loss.backward();
  return run.loss.item();
}

double accuracy(const KeyRecallConfig& c, const RecallModel& m, std::size_t D) {
  std::mt19937_64 rng(c.seed * 7919 + 1'000'003);  // held out: never the training stream
  tg::NoGradGuard no_grad;
  std::size_t right = 0, total = 0;
  while (total < c.test_sequences) {
    const std::size_t B = std::min(c.batch, c.test_sequences - total);
    const tg::IdTensor ids = make_batch(c, D, B, rng);
    Tensor logits;
    m.run(ids, m.cell.initial_state(B), &logits);
    const xt::xarray<float> l = logits.to_xarray<float>();  // [B, K]
    for (std::size_t b = 0; b < B; ++b) {
      std::size_t best = 0;
      for (std::size_t j = 1; j < c.keys; ++j)
        if (l(b, j) > l(b, best)) best = j;
      right += std::int64_t(best) == ids.array()(D + 1, b, 1);
    }
    total += B;
  }
  return double(right) / double(total);
}

}  // namespace

KeyRecallRun train_key_recall(const KeyRecallConfig& c, double forget_bias, std::size_t D, Backprop backprop) {
  const auto wall_start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  tg::manual_seed(c.seed);
  RecallModel m(c, forget_bias);
  const std::vector<Tensor> params = m.parameters();
  tg::Adam opt(params, tg::AdamOptions(c.lr));
  std::mt19937_64 rng(c.seed);  // the same batches for both methods
  KeyRecallRun run;
  run.distractors = D;
  run.forget_bias = forget_bias;
  run.backprop = backprop;
  double loss_sum = 0;
  std::size_t loss_count = 0;
  for (std::size_t step = 1; step <= c.steps; ++step) {
    const tg::IdTensor ids = make_batch(c, D, c.batch, rng);
    // Note [peak]: the pool keeps freed blocks for reuse, so after its free blocks are released
    // its live + pooled bytes at the end of a step are the step's high-water mark (an upper
    // bound: blocks are reused by exact size only). Measured on the last step.
    const bool measure = step == c.steps;
    std::size_t base = 0;
    if (measure) tg::release_pooled_memory(), base = tg::memory_stats().live_bytes;
    std::size_t graph = 0;
    const double loss = backprop == Backprop::full ? full_step(m, ids, c.k, &graph) : truncated_step(m, ids, c.k, &graph);
    tg::clip_grad_norm(params, c.clip);
    opt.step();
    opt.zero_grad();
    if (measure) {
      const tg::MemoryStats s = tg::memory_stats();
      run.peak_bytes = s.live_bytes + s.pooled_bytes - base;
      run.graph_bytes = graph;
    }
    if (step > c.steps - std::max<std::size_t>(1, c.steps / 10)) loss_sum += loss, ++loss_count;
  }
  run.final_loss = loss_sum / double(loss_count);
  run.accuracy = accuracy(c, m, D);
  run.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  run.cpu_seconds = double(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  return run;
}

std::vector<KeyRecallRun> run_key_recall(const KeyRecallConfig& c) {
  std::vector<KeyRecallRun> runs;
  for (double bias : c.forget_biases)
    for (std::size_t D : c.distractors)
      for (Backprop b : {Backprop::truncated, Backprop::full}) runs.push_back(train_key_recall(c, bias, D, b));
  return runs;
}

tgex::Table key_recall_table(const KeyRecallConfig& c, const std::vector<KeyRecallRun>& runs) {
  tgex::Table table({"forget_bias", "distractors", "method", "accuracy", "chance", "final_train_loss", "peak_kib", "graph_kib",
                     "cpu_seconds", "wall_seconds"});
  char method[64];
  for (const auto& r : runs) {
    if (r.backprop == Backprop::full) std::snprintf(method, sizeof method, "full BPTT (checkpointed, k=%zu)", c.k);
    else std::snprintf(method, sizeof method, "TBPTT k=%zu", c.k);
    table.add({r.forget_bias, r.distractors, method, r.accuracy, 1.0 / double(c.keys), r.final_loss, double(r.peak_bytes) / 1024,
               double(r.graph_bytes) / 1024, r.cpu_seconds, r.wall_seconds});
  }
  return table;
}

void plot_key_recall(const KeyRecallConfig& c, const std::vector<KeyRecallRun>& runs, const std::string& svg_path) {
  tgex::Chart accuracy_chart, memory_chart;
  const char* colors[2][3] = {{"#d62728", "#ff9896", "#8c564b"}, {"#1f77b4", "#aec7e8", "#2ca02c"}};  // [method][bias]
  for (std::size_t bi = 0; bi < c.forget_biases.size(); ++bi) {
    for (Backprop b : {Backprop::truncated, Backprop::full}) {
      char name[96];
      if (b == Backprop::full) std::snprintf(name, sizeof name, "full BPTT (checkpointed), forget bias %g", c.forget_biases[bi]);
      else std::snprintf(name, sizeof name, "TBPTT k=%zu, forget bias %g", c.k, c.forget_biases[bi]);
      tgex::Series acc(name), mem(name);
      acc.color = mem.color = colors[b == Backprop::full][bi % 3];
      acc.markers = mem.markers = true;
      acc.dashed = b == Backprop::truncated;
      for (const auto& r : runs) {
        if (r.backprop != b || r.forget_bias != c.forget_biases[bi]) continue;
        acc.x.push_back(double(r.distractors)), acc.y.push_back(r.accuracy);
        mem.x.push_back(double(r.distractors)), mem.y.push_back(double(r.peak_bytes) / (1024.0 * 1024.0));
      }
      accuracy_chart.series.push_back(acc);
      if (bi == 0) memory_chart.series.push_back(mem);  // memory does not depend on the bias
    }
  }
  tgex::Series chance("chance 1/K");
  chance.color = "#7f7f7f";
  for (std::size_t D : c.distractors) chance.x.push_back(double(D)), chance.y.push_back(1.0 / double(c.keys));
  std::sort(chance.x.begin(), chance.x.end());
  accuracy_chart.series.push_back(chance);
  char title[160];
  std::snprintf(title, sizeof title, "key recall, K=%zu, LSTM H=%zu, %zu sequences per run", c.keys, c.hidden_size,
                c.steps * c.batch);
  accuracy_chart.options.title = title;
  accuracy_chart.options.x_label = memory_chart.options.x_label = "distractors D";
  accuracy_chart.options.y_label = "held-out accuracy";
  memory_chart.options.title = "peak tensor memory of a training step";
  memory_chart.options.y_label = "MiB (pool high-water mark)";
  tgex::write_svg_panels(svg_path, {accuracy_chart, memory_chart}, 2);
}

}  // namespace tgexp
