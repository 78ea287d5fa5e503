// Pointwise runs (Note [pointwise runs] in autograd/detail/pointwise_run.hpp): a chain of
// elementwise ops runs its backward as one pass over chunks, for any cell made of ops (no
// pattern is matched). Fused gradients pass the float64 check, equal the unfused ones bit for bit, and the
// engine's guards (versions, anomaly mode, retain_grad) hold inside a run.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <tapegrad/autograd/detail/pointwise_run.hpp>

#include "test_helpers.hpp"

using tg::State;
using tg::Tensor;
namespace detail = tg::detail;

using tgtest::with_threads;

namespace {

// Runs body with pointwise fusion on or off, back on afterwards.
template <class F>
void with_fusion(bool on, F body) {
  tgtest::with_setting(detail::set_pointwise_fusion_enabled, on, true, body);
}

// A chain of every pointwise kind: unary math, scalar forms and same-shape binary ops, with
// an input used twice (x * x) and dy handed on by add and sub.
Tensor chain(const Tensor& a, const Tensor& b) {
  const Tensor s = tg::sigmoid(a) * tg::tanh(b);
  const Tensor t = (s + a * a) / tg::add_scalar(tg::exp(b * 0.5), 1.0);
  return tg::sqrt(tg::add_scalar(tg::square(t - b), 0.1)) - tg::rsub_scalar(s, 2.0) * a;
}

// The gradients of sum(w * f(inputs)) with respect to the inputs, as float64 arrays.
std::vector<xt::xarray<double>> gradients(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                          const std::vector<Tensor>& inputs) {
  for (Tensor x : inputs) x.zero_grad();
  const Tensor y = f(inputs);
  const Tensor w = Tensor::constant(xt::cos(xt::arange<double>(double(y.numel())) * 0.37)).to(y.dtype());
  tg::sum(tg::reshape(y, {y.numel()}) * w).backward();
  std::vector<xt::xarray<double>> g;
  for (const Tensor& x : inputs) g.push_back(x.grad().to(tg::kFloat64).value<double>());
  return g;
}

// Fused and unfused gradients of f are equal bit for bit: each element goes through the same
// math in the same order; only the chunks it is computed in differ (their bounds are whole
// SIMD registers).
void check_fused_matches_unfused(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 const std::vector<Tensor>& inputs) {
  std::vector<xt::xarray<double>> fused, unfused;
  detail::reset_pointwise_run_stats();
  with_fusion(true, [&] { fused = gradients(f, inputs); });
  CHECK(detail::pointwise_run_stats().fused_nodes > 0);  // the check compares something fused
  detail::reset_pointwise_run_stats();
  with_fusion(false, [&] { unfused = gradients(f, inputs); });
  CHECK(detail::pointwise_run_stats().fused_nodes == 0);
  REQUIRE(fused.size() == unfused.size());
  for (std::size_t k = 0; k < fused.size(); ++k) {
    CHECK(fused[k] == unfused[k]);
    CHECK(double(xt::amax(xt::abs(fused[k]))()) > 0.0);  // a gradient reached the input
  }
}

// An LSTM step written as a user would, gates in the order o | g | f | i instead of the
// library's i | f | g | o.
State reordered_lstm_step(const Tensor& gates, const State& state) {
  const auto g4 = tg::chunk(gates, 4, 1);
  const Tensor o = tg::sigmoid(g4[0]), g = tg::tanh(g4[1]), f = tg::sigmoid(g4[2]), i = tg::sigmoid(g4[3]);
  const Tensor c_next = i * g + f * state[1];
  return {tg::tanh(c_next) * o, c_next};
}

// The fused nodes one backward through T steps of `cell` counts.
std::size_t fused_nodes_of(const std::function<State(const Tensor& x, const State&)>& step, std::size_t I,
                           std::size_t H) {
  tg::manual_seed(3);
  const std::size_t B = 4, T = 5;
  State state{Tensor::zeros({B, H}), Tensor::zeros({B, H})};
  Tensor loss = Tensor::scalar(0.0);
  const Tensor x = Tensor::param(tg::uniform<float>({B, I}, -1.0f, 1.0f));
  for (std::size_t t = 0; t < T; ++t) {
    state = step(x, state);
    loss = loss + tg::sum(state[0]);
  }
  detail::reset_pointwise_run_stats();
  loss.backward();
  return detail::pointwise_run_stats().fused_nodes;
}

}  // namespace

TEST_CASE("a fused chain passes the float64 gradient check") {
  tg::manual_seed(11);
  const auto f = [](const std::vector<Tensor>& in) { return chain(in[0], in[1]); };
  const std::vector<Tensor> inputs{tgtest::param({3, 5}), tgtest::param({3, 5})};
  detail::reset_pointwise_run_stats();
  CHECK_GRADCHECK(f, inputs);
  CHECK(detail::pointwise_run_stats().fused_nodes >= 10);  // the chain's ops ran as runs
}

TEST_CASE("fused gradients are the unfused ones: small, across chunks, and at two threads") {
  tg::manual_seed(12);
  const auto f = [](const std::vector<Tensor>& in) { return chain(in[0], in[1]); };
  SUBCASE("float64, one chunk") { check_fused_matches_unfused(f, {tgtest::param({4, 7}), tgtest::param({4, 7})}); }
  SUBCASE("float32, many chunks and pieces") {
    // 40,000 elements: several inner chunks, and more than one piece for the pool
    const auto p = [] { return Tensor::param(tg::uniform<float>({200, 200}, -1.0f, 1.0f)); };
    const std::vector<Tensor> in{p(), p()};
    check_fused_matches_unfused(f, in);
    with_threads(2, [&] { check_fused_matches_unfused(f, in); });
  }
}

TEST_CASE("an LSTM cell's gradients are the same fused and unfused") {
  tg::manual_seed(13);
  auto cell = tgtest::to_f64(std::make_shared<tg::LSTMCell>(3, 6));
  const Tensor x = tgtest::param({5, 3});
  const auto f = [&](const std::vector<Tensor>&) {
    State s = cell->initial_state(5);
    for (int t = 0; t < 3; ++t) s = cell->forward(x, s);
    return s[0];
  };
  check_fused_matches_unfused(f, cell->parameters());
}

TEST_CASE("a cell the library does not have fuses as many nodes as the built-in one") {
  const std::size_t I = 3, H = 8;
  tg::LSTMCell lstm(I, H);
  tg::LayerNormLSTMCell ln_lstm(I, H);
  const auto builtin = [&](const Tensor& x, const State& s) { return lstm.forward(x, s); };
  // the same affine projections as the library's cell, with the gate math reordered
  const auto reordered = [&](const Tensor& x, const State& s) {
    return reordered_lstm_step(tg::linear(s[0], lstm.weight_hh, lstm.bias_hh, lstm.project_input(x)), s);
  };
  const auto layer_norm = [&](const Tensor& x, const State& s) { return ln_lstm.forward(x, s); };
  const std::size_t expected = fused_nodes_of(builtin, I, H);
  // per step: three sigmoids, a tanh, f*c, i*g, their sum, tanh(c) and o*tanh(c)
  CHECK(expected >= 5 * 9);
  CHECK(fused_nodes_of(reordered, I, H) == expected);
  // the LayerNorm-LSTM's layer_norm(c) cuts its chain in two (7 nodes, then 2): same nodes
  CHECK(fused_nodes_of(layer_norm, I, H) == expected);
}

TEST_CASE("inside a run: version checks, anomaly mode and retained gradients hold") {
  tg::manual_seed(14);
  SUBCASE("a value written in place after the forward is refused") {
    const Tensor a = tgtest::param({2, 3});
    Tensor t = tg::tanh(a);
    const Tensor y = tg::exp(tg::sigmoid(t) * 2.0);  // tanh is the last node of the run
    t.mutable_data<double>()[0] = 0.5;  // tanh saved its output, nothing else did
    CHECK_THROWS_WITH_AS(tg::sum(y).backward(), doctest::Contains("op 'tanh'"), std::logic_error);
    tg::clear_tape();
  }
  SUBCASE("anomaly mode names the op whose backward made the NaN") {
    const Tensor a = Tensor::param(xt::xarray<double>{{0.0, 1.0}});
    const Tensor y = tg::tanh(tg::sqrt(a) * 2.0);  // d sqrt at 0: 1 / 0
    tg::AnomalyModeGuard anomaly;
    CHECK_THROWS_WITH_AS(tg::sum(y).backward(), doctest::Contains("op 'sqrt'"), tg::NonFiniteError);
    tg::clear_tape();
  }
  SUBCASE("a gradient retained in the middle of a chain is the unfused one") {
    const Tensor a = tgtest::param({3, 4});
    const auto retained = [&](bool fuse) {
      xt::xarray<double> g;
      with_fusion(fuse, [&] {
        Tensor mid = tg::exp(tg::sigmoid(a) * a);
        mid.retain_grad();
        tg::sum(tg::tanh(mid) * mid).backward();
        g = mid.grad().value<double>();
      });
      return g;
    };
    const auto fused = retained(true), unfused = retained(false);
    CHECK(fused == unfused);
    CHECK(double(xt::amax(xt::abs(fused))()) > 0.0);
  }
}

// Note [windows tile]: slices run with the pointwise ops after them and assign their input's
// gradient only when together they cover it exactly once; else it is zeroed and they add.
TEST_CASE("slices in a run: every way their windows can cover the input") {
  tg::manual_seed(15);
  Tensor a = tgtest::param({3, 8});
  const Tensor b = tgtest::param({3, 2});
  // Each f ends in pointwise math on its slices, so the slices join that run.
  const auto gates = [](const Tensor& x) {  // the four quarters of x's columns: they tile x
    const auto q = tg::chunk(x, 4, 1);
    return tg::sigmoid(q[0]) * tg::tanh(q[1]) + tg::sigmoid(q[2]) * q[3];
  };
  SUBCASE("the chunk of a matrix into four") {
    const auto f = [&](const std::vector<Tensor>& in) { return gates(in[0]); };
    check_fused_matches_unfused(f, {a});
    CHECK_GRADCHECK(f, std::vector<Tensor>{a});
  }
  SUBCASE("float32, a run of 40,000 elements cut into pieces, at one thread and two") {
    const Tensor big = Tensor::param(tg::uniform<float>({100, 1600}, -1.0f, 1.0f));
    const auto f = [&](const std::vector<Tensor>& in) { return gates(in[0]); };
    check_fused_matches_unfused(f, {big});
    with_threads(2, [&] { check_fused_matches_unfused(f, {big}); });
  }
  SUBCASE("a chunk one part of which takes no gradient: that part's gradient is zero") {
    const auto f = [&](const std::vector<Tensor>& in) {
      const auto q = tg::chunk(in[0], 4, 1);
      return tg::sigmoid(q[0]) * tg::tanh(q[1]) + q[3];
    };
    check_fused_matches_unfused(f, {a});
    CHECK_GRADCHECK(f, std::vector<Tensor>{a});
    a.zero_grad();
    detail::reset_pointwise_run_stats();
    tg::sum(f({a})).backward();
    CHECK(xt::view(a.grad().value<double>(), xt::all(), xt::range(4, 6)) == xt::zeros<double>({3, 2}));
    CHECK(detail::pointwise_run_stats().serial_runs == 0);  // apart, though not tiling: pieces may split it
  }
  SUBCASE("overlapping and repeated windows add") {
    const auto f = [&](const std::vector<Tensor>& in) {
      const Tensor s = tg::slice(in[0], 1, 1, 2), t = tg::slice(in[0], 1, 2, 2), u = tg::slice(in[0], 1, 1, 2);
      return tg::sigmoid(s) * t + tg::tanh(u) * in[1];
    };
    check_fused_matches_unfused(f, {a, b});
    CHECK_GRADCHECK(f, (std::vector<Tensor>{a, b}));
  }
  SUBCASE("overlapping windows across pieces of the pool add in the slices' order") {
    // a shift difference: rows of 300 of 301 columns, so the pool's pieces cut rows, and
    // both slices write most elements; x * 2 gives x a gradient before the run
    const Tensor x = Tensor::param(tg::uniform<float>({100, 301}, -1.0f, 1.0f));
    const auto f = [&](const std::vector<Tensor>& in) {
      const Tensor d = tg::slice(in[0], 1, 1, 300) - tg::slice(in[0], 1, 0, 300);
      return tg::reshape(tg::square(d), {100 * 300}) + tg::sum(in[0] * 2.0);
    };
    check_fused_matches_unfused(f, {x});
    with_threads(2, [&] { check_fused_matches_unfused(f, {x}); });
    detail::reset_pointwise_run_stats();
    tg::sum(f({x})).backward();
    CHECK(detail::pointwise_run_stats().serial_runs == 1);  // one element, two writers: never two pieces
  }
  SUBCASE("windows of one input along two axes (other strides) in one run") {
    const Tensor x = Tensor::param(tg::uniform<float>({200, 200}, -1.0f, 1.0f));
    const auto f = [&](const std::vector<Tensor>& in) {  // rows 0-99 and columns 0-99: 20,000 each
      const Tensor rows = tg::slice(in[0], 0, 0, 100), cols = tg::slice(in[0], 1, 0, 100);
      const Tensor a = tg::tanh(rows), b = tg::sigmoid(cols);  // recorded together: one run
      return tg::sum(a) + tg::sum(b);
    };
    check_fused_matches_unfused(f, {x});
    with_threads(2, [&] { check_fused_matches_unfused(f, {x}); });
    detail::reset_pointwise_run_stats();
    tg::sum(f({x})).backward();
    CHECK(detail::pointwise_run_stats().serial_runs == 1);
  }
  SUBCASE("a run that fails while it gathers leaves no gradient it allocated") {
    const Tensor p = tgtest::param({3, 2}), w = tgtest::param({3, 8});
    Tensor t = tg::tanh(p);
    const auto q = tg::chunk(w, 4, 1);
    const Tensor y = q[0] + t;  // the run: the add, then q[0] (allocates w's gradient), then tanh
    t.mutable_data<double>()[0] = 0.5;  // tanh's saved output: its check throws
    CHECK_THROWS_WITH_AS(tg::sum(y).backward(), doctest::Contains("op 'tanh'"), std::logic_error);
    tg::clear_tape();
    CHECK_FALSE(w.grad().defined());
    CHECK_FALSE(p.grad().defined());
  }
  SUBCASE("the input also has a gradient from before the run, or gets one after it") {
    // before: a node above the run (y * 2 + sum over gates(x)) reached x first;
    // after: x * x is recorded before the chunk, so its backward runs after the run's
    const auto f = [&](const std::vector<Tensor>& in) {
      const Tensor x = tg::exp(in[0]);
      const Tensor early = tg::sum(x * x);
      const Tensor y = gates(x);
      return tg::sum(y) * 0.5 + tg::sum(tg::slice(x, 1, 0, 3) * 3.0) + early;
    };
    check_fused_matches_unfused(f, {a});
    CHECK_GRADCHECK(f, std::vector<Tensor>{a});
  }
  SUBCASE("rows (views) and a middle axis of a 3-D tensor tile too") {
    const Tensor c = tgtest::param({2, 6, 3});
    const auto f = [&](const std::vector<Tensor>& in) {
      const auto rows = tg::chunk(in[0], 2, 0);   // [1, 6, 3] each: views
      const auto mid = tg::chunk(in[0], 3, 1);    // [2, 2, 3] each
      return tg::sum(tg::tanh(rows[0]) * rows[1]) + tg::sum(tg::sigmoid(mid[0]) * mid[2] - mid[1]);
    };
    check_fused_matches_unfused(f, {c});
    CHECK_GRADCHECK(f, std::vector<Tensor>{c});
  }
  SUBCASE("a leaf sliced directly accumulates over two backward passes") {
    const auto f = [&](const std::vector<Tensor>& in) { return gates(in[0]); };
    a.zero_grad();
    tg::sum(f({a})).backward();
    const xt::xarray<double> once = a.grad().value<double>();
    tg::sum(f({a})).backward();  // no zero_grad: the run adds into the gradient a already has
    CHECK(xt::allclose(a.grad().value<double>(), 2.0 * once, 1e-15, 0.0));
  }
  SUBCASE("the four slices join the gate math's run") {
    detail::reset_pointwise_run_stats();
    tg::sum(gates(a)).backward();
    // 4 slices, 3 unary ops, 2 multiplies, the add: one run (the sum is not pointwise)
    CHECK(detail::pointwise_run_stats().runs == 1);
    CHECK(detail::pointwise_run_stats().fused_nodes == 10);
    CHECK(detail::pointwise_run_stats().serial_runs == 0);  // disjoint windows split as usual
  }
}
