// tg::checkpoint (autograd/checkpoint.cpp, Note [checkpoint]): gradients through recomputed
// segments, bit for bit against the same segmentation kept, close to the unsegmented path.
#include <cstring>
#include <vector>

#include "op_checks.hpp"
#include "test_helpers.hpp"

using tg::Tensor;

using tgtest::check_error;

namespace {

// One step of a small recurrent cell: h' = tanh(x_t W^T + h U^T), [B, H].
struct Rnn {
  tg::Tensor W, U;  // [H, I], [H, H]
  tg::Tensor step(const tg::Tensor& x_t, const tg::Tensor& h) const { return tg::tanh(tg::linear(x_t, W, {}, tg::linear(h, U))); }
};

// sum over t of sum(h_t * v): an unrolled sequence x [T, B, I], segments of `k` steps each
// checkpointed (k = 0: no checkpoint), with dropout p between steps when p > 0.
tg::Tensor unrolled_loss(const Rnn& rnn, const tg::Tensor& x, const tg::Tensor& h0, const tg::Tensor& v, std::size_t k,
                      bool recompute, double p = 0.0) {
  const std::size_t T = x.shape()[0];
  tg::Tensor h = h0, loss = tg::Tensor::scalar(0.0, tg::kFloat64);
  for (std::size_t t0 = 0; t0 < T; t0 += (k ? k : T)) {
    const std::size_t t1 = std::min(T, t0 + (k ? k : T));
    // in[0]: the carried state [B, H]; in[1]: the segment's inputs [t1 - t0, B, I], which may
    // be a non-leaf of the outer graph, so it is an input of the checkpoint
    auto segment = [rnn, v, p](const std::vector<Tensor>& in) {  // by value: it runs again in backward
      const tg::Tensor& xs = in[1];
      tg::Tensor hs = in[0], part = tg::Tensor::scalar(0.0, tg::kFloat64);
      for (std::size_t t = 0; t < xs.shape()[0]; ++t) {
        hs = rnn.step(tg::reshape(tg::slice(xs, 0, t, 1), {xs.shape()[1], xs.shape()[2]}), hs);
        if (p > 0) hs = tg::dropout(hs, p, true);
        part = part + tg::sum(hs * v);
      }
      return std::vector<Tensor>{hs, part};
    };
    const std::vector<Tensor> in = {h, tg::slice(x, 0, t0, t1 - t0)};
    std::vector<Tensor> out = k ? tg::checkpoint(segment, in, tg::CheckpointOptions().recompute(recompute)) : segment(in);
    h = out[0];
    loss = loss + out[1];
  }
  return loss;
}

std::vector<xt::xarray<double>> grads_of(const std::vector<Tensor>& ts) {
  std::vector<xt::xarray<double>> g;
  for (const auto& t : ts) g.push_back(t.grad().to_xarray<double>());
  return g;
}

bool bitwise_equal(const xt::xarray<double>& a, const xt::xarray<double>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

struct Problem {
  Rnn rnn;
  tg::Tensor x, h0, v;
  std::vector<Tensor> params() const { return {rnn.W, rnn.U, h0}; }
  void zero_grad() const {
    for (auto p : params()) p.zero_grad(true);
  }
};

Problem make_problem(std::size_t T, std::size_t B = 3, std::size_t I = 4, std::size_t H = 5) {
  tg::manual_seed(21);
  return {{tgtest::param({H, I}, -0.5, 0.5), tgtest::param({H, H}, -0.5, 0.5)},
          tg::Tensor::constant(tg::uniform<double>({T, B, I}, -1, 1)),
          tgtest::param({B, H}),
          tg::Tensor::constant(tg::uniform<double>({B, H}, -1, 1))};
}

}  // namespace

TEST_CASE("checkpoint: gradcheck of segments that read a parameter and a non-leaf input") {
  tg::manual_seed(5);
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) {
    const Rnn rnn{in[1], in[2]};
    const tg::Tensor x = tg::reshape(in[0], {4, 2, 3});  // a non-leaf: its gradient flows through the segments
    return unrolled_loss(rnn, x, in[3], tg::Tensor::constant(xt::ones<double>({2, 3})), 2, true) * tg::sum(in[3]);
  };
  CHECK_GRADCHECK(f, (std::vector<Tensor>{tgtest::param({4, 6}), tgtest::param({3, 3}, -0.5, 0.5),
                                           tgtest::param({3, 3}, -0.5, 0.5), tgtest::param({2, 3})}));
}

TEST_CASE("checkpoint: recomputed gradients equal the kept segmentation's bit for bit, and the unsegmented within 1e-6") {
  tg::set_num_threads(1);
  const Problem pb = make_problem(24);
  std::vector<std::vector<xt::xarray<double>>> runs;
  for (int mode = 0; mode < 3; ++mode) {  // recompute on, recompute off, no checkpoint
    pb.zero_grad();
    unrolled_loss(pb.rnn, pb.x, pb.h0, pb.v, mode == 2 ? 0 : 5, mode == 0).backward();
    runs.push_back(grads_of(pb.params()));
  }
  for (std::size_t i = 0; i < runs[0].size(); ++i) {
    CHECK_MESSAGE(bitwise_equal(runs[0][i], runs[1][i]), "parameter " << i);
    tgtest::check_close(runs[0][i], runs[2][i], 1e-6);
  }
}

TEST_CASE("checkpoint: dropout masks replay identically, and the RNG resumes where the forward left it") {
  tg::set_num_threads(1);
  const Problem pb = make_problem(12);
  std::vector<std::vector<xt::xarray<double>>> runs;
  std::vector<std::string> rng_after;
  for (int mode = 0; mode < 2; ++mode) {  // recompute on, recompute off
    pb.zero_grad();
    tg::manual_seed(99);
    tg::Tensor loss = unrolled_loss(pb.rnn, pb.x, pb.h0, pb.v, 4, mode == 0, 0.3);
    loss.backward();
    runs.push_back(grads_of(pb.params()));
    rng_after.push_back(tg::rng_state());
  }
  for (std::size_t i = 0; i < runs[0].size(); ++i) CHECK_MESSAGE(bitwise_equal(runs[0][i], runs[1][i]), "parameter " << i);
  CHECK(rng_after[0] == rng_after[1]);  // the recomputation's draws were put back
}

TEST_CASE("checkpoint: memory held by a long unrolled graph shrinks to the segment boundaries (tape counters)") {
  const Problem pb = make_problem(120, 8, 16, 64);
  tg::clear_tape();
  const tg::Tensor plain = unrolled_loss(pb.rnn, pb.x, pb.h0, pb.v, 0, true);
  const std::size_t plain_bytes = tg::tape_stats().recorded_bytes;
  tg::clear_tape();
  const tg::Tensor ck = unrolled_loss(pb.rnn, pb.x, pb.h0, pb.v, 12, true);
  const std::size_t ck_bytes = tg::tape_stats().recorded_bytes;
  // Plain: every step's [B, H] values (several per step); checkpointed: 10 boundaries.
  CHECK(ck_bytes * 10 < plain_bytes);
  tg::clear_tape();
}

TEST_CASE("checkpoint: a non-leaf that requires grad reaching fn outside its inputs is refused") {
  const tg::Tensor w = tgtest::param({2, 2});
  const tg::Tensor z = tg::tanh(w);  // a non-leaf of the outer graph
  check_error<std::logic_error>(
      [&] {
        tg::checkpoint([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0] * z}; },
                               {tgtest::param({2, 2})});
      },
      {"checkpoint", "'mul'", "[2, 2]", "'tanh'", "not one of checkpoint's inputs"});
  tg::clear_tape();
  tgtest::check_tape_works();
}

TEST_CASE("checkpoint: an input written in place before backward is refused") {
  tg::Tensor h = tgtest::param({2, 3});
  const tg::Tensor w = tgtest::param({3, 3});
  const auto out = tg::checkpoint(
      [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{tg::tanh(tg::linear(in[0], w))}; }, {h});
  tg::Tensor loss = tg::sum(out[0]);
  h.mutable_data<double>()[0] = 4.0;
  check_error<std::logic_error>([&] { loss.backward(); }, {"checkpoint's input 0", "[2, 3]", "written in place"});
  tg::clear_tape();
}

TEST_CASE("checkpoint: nested segments gradcheck") {
  tg::manual_seed(8);
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) {
    const tg::Tensor w = in[1];
    auto inner = [w](const std::vector<Tensor>& x) { return std::vector<Tensor>{tg::sigmoid(tg::linear(x[0], w))}; };
    auto outer = [w, inner](const std::vector<Tensor>& x) {
      const tg::Tensor a = tg::checkpoint(inner, {x[0]})[0];
      return std::vector<Tensor>{tg::tanh(tg::linear(a, w)) * x[1], a};
    };
    const auto out = tg::checkpoint(outer, {in[0], in[2]});
    return out[0] + out[1];
  };
  CHECK_GRADCHECK(f, (std::vector<Tensor>{tgtest::param({2, 3}), tgtest::param({3, 3}), tgtest::param({2, 3})}));
  CHECK(tg::tape_stats().nodes == 0);
}

TEST_CASE("checkpoint: gradients reach a parameter when no input requires grad; outputs that are inputs pass through") {
  const tg::Tensor w = tgtest::param({3});
  const tg::Tensor c = tg::Tensor::constant(xt::xarray<double>{1.0, 2.0, 3.0});
  tg::Tensor h = tgtest::param({3});
  const auto out = tg::checkpoint(
      [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0] * w, in[1]}; }, {c, h});
  tg::sum(out[0] + out[1] * 2.0).backward();
  tgtest::check_close(w.grad().value<double>(), {1.0, 2.0, 3.0});  // d/dw sum(c w) = c
  tgtest::check_close(h.grad().value<double>(), {2.0, 2.0, 2.0});  // h returned as is
}

TEST_CASE("checkpoint: under NoGradGuard fn just runs and nothing is recorded") {
  const tg::Tensor w = tgtest::param({2});
  tg::NoGradGuard no_grad;
  const auto out =
      tg::checkpoint([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0] * w}; },
                             {tg::Tensor::constant(xt::xarray<double>{3.0, 4.0})});
  CHECK_FALSE(out[0].requires_grad());
  CHECK(out[0].value<double>()(1) == doctest::Approx(4.0 * w.value<double>()(1)));
  CHECK(tg::tape_stats().nodes == 0);
}

TEST_CASE("checkpoint: anomaly mode names the op inside fn") {
  const tg::AnomalyModeGuard anomaly;
  check_error<tg::NonFiniteError>(
      [&] {
        tg::checkpoint([](const std::vector<Tensor>& in) { return std::vector<Tensor>{tg::log(in[0])}; },
                               {tg::Tensor::param(xt::xarray<double>{-1.0})});
      },
      {"'log'"});
  tg::clear_tape();
}

TEST_CASE("checkpoint: bad arguments") {
  const tg::Tensor x = tgtest::param({2});
  check_error<std::invalid_argument>(
      [&] { tg::checkpoint([](const std::vector<Tensor>&) { return std::vector<Tensor>{}; }, {x}); },
      {"checkpoint", "no tensor"});
  check_error<std::invalid_argument>(
      [&] { tg::checkpoint([](const std::vector<Tensor>& in) { return in; }, {x, tg::Tensor()}); },
      {"checkpoint", "input 1", "undefined"});
  check_error<std::invalid_argument>([&] { tg::checkpoint({}, {x}); }, {"checkpoint", "fn is empty"});
  tgtest::check_tape_works();
}

// ===== run_checkpointed: the segment API =====

namespace {

// A char model: embedding, LSTM cell, head. ids [T, B, 2] hold each step's input id and target
// id (a language model's next character), so a segment needs nothing from its neighbours.
struct CharModel : tg::Module {
  tg::Embedding embed{7, 4};
  tg::LSTMCell cell{4, 6};
  tg::Linear head{6, 7};
  CharModel() {
    register_module("embed", embed);
    register_module("cell", cell);
    register_module("head", head);
    to(tg::kFloat64);  // for the gradient checks
  }
  // The summed cross-entropy of the segment's steps, and the state after them.
  tg::SegmentOutput run(const tg::IdTensor& ids, const std::vector<Tensor>& state) const {
    const std::size_t k = ids.shape()[0], B = ids.shape()[1];
    const xt::xarray<std::int64_t> inputs = xt::view(ids.array(), xt::all(), xt::all(), 0);   // [k, B]
    const xt::xarray<std::int64_t> targets = xt::view(ids.array(), xt::all(), xt::all(), 1);  // [k, B]
    const tg::Tensor x = embed(tg::IdTensor(inputs));  // [k, B, E]
    std::vector<Tensor> s = state;
    tg::Tensor loss = tg::Tensor::scalar(0.0, tg::kFloat64);
    for (std::size_t t = 0; t < k; ++t) {
      s = cell(tg::reshape(tg::slice(x, 0, t, 1), {B, 4}), s);
      const xt::xarray<std::int64_t> y = xt::view(targets, t, xt::all());
      loss = loss + tg::cross_entropy(head(s[0]), tg::IdTensor(y)) * double(B);  // a sum over the batch
    }
    return {loss, s};
  }
};

tg::IdTensor random_ids(std::size_t T, std::size_t B) {
  const xt::xarray<double> u = tg::uniform<double>({T, B, 2}, 0, 7);
  return tg::IdTensor(xt::xarray<std::int64_t>(xt::cast<std::int64_t>(xt::floor(u))));
}

}  // namespace

TEST_CASE("run_checkpointed: any segmentation gives the whole sequence's loss and gradients") {
  tg::set_num_threads(1);
  tg::manual_seed(4);
  const CharModel m;
  const tg::IdTensor ids = random_ids(30, 3);
  const auto fn = [&m](const tg::IdTensor& i, const std::vector<Tensor>& s) { return m.run(i, s); };
  // The reference: one graph over all 30 steps, no checkpoint.
  tg::Tensor whole = m.run(ids, m.cell.initial_state(3)).loss;
  whole.backward();
  const std::vector<xt::xarray<double>> expected = grads_of(m.parameters());
  for (std::size_t k : {30, 7, 1}) {  // one segment; four, the last short; one per step
    for (auto p : m.parameters()) p.zero_grad(true);
    auto run = tg::run_checkpointed(ids, m.cell.initial_state(3), fn, tg::SegmentLength::steps(k));
    CHECK(run.segment_steps == k);
    CHECK(run.segments == (30 + k - 1) / k);
    CHECK(run.loss.item() == doctest::Approx(whole.item()).epsilon(1e-12));
    run.loss.backward();
    const auto got = grads_of(m.parameters());
    for (std::size_t i = 0; i < got.size(); ++i) tgtest::check_close(got[i], expected[i], 1e-9);
    CHECK(tg::tape_stats().nodes == 0);
  }
}

TEST_CASE("run_checkpointed: a memory budget picks the segment length from the measured step cost") {
  CHECK(tg::segment_steps_for_budget(1000, 100, 10, 0) == 100);    // everything fits
  CHECK(tg::segment_steps_for_budget(1000, 100, 10, 1) == 99);     // 99*10 + 2*1 = 992; k = 100 needs 1001
  CHECK(tg::segment_steps_for_budget(100, 100, 10, 10) == 0);      // not even one step with 100 boundaries
  CHECK(tg::segment_steps_for_budget(std::size_t(1) << 30, 10'000, std::size_t(1) << 20, 1024) == 24);  // 8 MiB of values, 3x
  // The fast length does not fit: the fitting k nearest it (1 MiB boundaries: 25 + 400 MiB fits, 24 + 417 does not).
  CHECK(tg::segment_steps_for_budget(std::size_t(425) << 20, 10'000, std::size_t(1) << 20, std::size_t(1) << 20) == 25);
  tg::manual_seed(6);
  const CharModel m;
  const tg::IdTensor ids = random_ids(64, 2);
  const auto fn = [&m](const tg::IdTensor& i, const std::vector<Tensor>& s) { return m.run(i, s); };
  const std::string rng_before = tg::rng_state();
  auto run = tg::run_checkpointed(ids, m.cell.initial_state(2), fn, tg::SegmentLength::memory(300'000));
  CHECK(tg::rng_state() == rng_before);  // the probe's draws were put back (this model draws none)
  CHECK(run.segment_steps >= 1);
  CHECK(run.segment_steps < 64);  // 300 kB does not hold all 64 steps of this model
  // The graph the run keeps is the boundaries' only: far below 64 steps' worth.
  CHECK(tg::tape_stats().recorded_bytes < 300'000);
  run.loss.backward();
  CHECK(m.head.weight.grad().defined());
  check_error<std::invalid_argument>(
      [&] { tg::run_checkpointed(ids, m.cell.initial_state(2), fn, tg::SegmentLength::memory(10)); },
      {"run_checkpointed", "budget of 10 bytes"});
  tg::clear_tape();
}

TEST_CASE("run_checkpointed: bad arguments and bad segments name what was wrong") {
  const CharModel m;
  const auto fn = [&m](const tg::IdTensor& i, const std::vector<Tensor>& s) { return m.run(i, s); };
  const auto state = m.cell.initial_state(2);
  check_error<std::invalid_argument>([&] { tg::SegmentLength::steps(0); }, {"SegmentLength::steps"});
  check_error<std::invalid_argument>(
      [&] { tg::run_checkpointed(tg::IdTensor(), state, fn, tg::SegmentLength::steps(2)); },
      {"run_checkpointed", "T > 0"});
  const tg::SegmentFn drops_state = [&m](const tg::IdTensor& i, const std::vector<Tensor>& s) {
    auto out = m.run(i, s);
    out.state.pop_back();
    return out;
  };
  check_error<std::invalid_argument>(
      [&] { tg::run_checkpointed(random_ids(4, 2), state, drops_state, tg::SegmentLength::steps(2)); },
      {"run_checkpointed", "returned 1 state tensors for 2"});
  tg::clear_tape();
  tgtest::check_tape_works();
}
