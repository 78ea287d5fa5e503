// Cells: documented shapes, forward values against plain loops of PyTorch's equations,
// gradchecks over 1 and 5 steps w.r.t. inputs, initial states and every parameter, and BPTT.
//   B batch, I input, H hidden
#include <cmath>
#include <functional>

#include "test_helpers.hpp"

using tg::Tensor;


namespace {

constexpr std::size_t B = 2, I = 3, H = 4;

double sigm(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// Gate g's pre-activation for row b, unit j: (x W_ih^T + b_ih)[g*H + j] and (h W_hh^T + b_hh).
double affine(const xt::xarray<double>& W, const xt::xarray<double>& bias, const xt::xarray<double>& v,
              std::size_t b, std::size_t row) {
  double s = bias(row);
  for (std::size_t k = 0; k < v.shape()[1]; ++k) s += W(row, k) * v(b, k);
  return s;
}

// Gradchecks `steps` steps of `cell` w.r.t. every input, the initial state and every parameter.
void gradcheck_cell(const tg::Cell& cell, std::size_t steps) {
  std::vector<Tensor> inputs;
  for (std::size_t t = 0; t < steps; ++t) inputs.push_back(tgtest::param({B, cell.input_size()}));
  for (std::size_t k = 0; k < cell.state_size(); ++k) inputs.push_back(tgtest::param({B, cell.hidden_size()}, -0.5, 0.5));
  for (const auto& p : cell.parameters()) inputs.push_back(p);
  const std::size_t S = cell.state_size();
  auto f = [&cell, steps, S](const std::vector<Tensor>& in) {
    tg::State s(in.begin() + steps, in.begin() + steps + S);
    std::vector<Tensor> outs;
    for (std::size_t t = 0; t < steps; ++t) {
      s = cell(in[t], s);
      outs.push_back(s[0]);  // every h_t
    }
    outs.insert(outs.end(), s.begin() + 1, s.end());  // and the final c
    return tg::concat(outs, 0);
  };
  CHECK_GRADCHECK(f, inputs);
}

}  // namespace

TEST_CASE("cells: parameter names and shapes are PyTorch's") {
  tg::LSTMCell lstm(I, H);
  lstm.to(tg::kFloat64);
  const auto names = lstm.named_parameters();
  REQUIRE(names.size() == 4);
  CHECK(names[0].first == "weight_ih");
  CHECK(names[0].second.shape() == tg::Shape{4 * H, I});
  CHECK(names[1].first == "weight_hh");
  CHECK(names[1].second.shape() == tg::Shape{4 * H, H});
  CHECK(names[2].first == "bias_ih");
  CHECK(names[2].second.shape() == tg::Shape{4 * H});
  CHECK(names[3].first == "bias_hh");
  CHECK(tg::GRUCell(I, H).weight_ih.shape() == tg::Shape{3 * H, I});
  CHECK(tg::RNNCell(I, H).weight_hh.shape() == tg::Shape{H, H});
  for (const auto& [name, p] : lstm.named_parameters())  // U(-1/sqrt(H), 1/sqrt(H))
    CHECK(xt::amax(xt::abs(p.value<double>()))() <= 1.0 / std::sqrt(double(H)));
  tg::LSTMCell fb(I, H, true);
  fb.to(tg::kFloat64);
  CHECK(fb.bias_ih.value<double>()(H) == 1.0);      // forget slice [H, 2H) of b_ih is 1
  CHECK(fb.bias_hh.value<double>()(H + 1) == 0.0);  // and of b_hh 0: the sum is 1
  CHECK(fb.bias_ih.value<double>()(0) != 1.0);
}

TEST_CASE("LSTMCell: one step equals plain loops of PyTorch's equations") {
  tg::manual_seed(11);
  tg::LSTMCell cell(I, H);
  cell.to(tg::kFloat64);
  const xt::xarray<double> x = tg::uniform<double>({B, I}, -1, 1), h = tg::uniform<double>({B, H}, -1, 1),
                           c = tg::uniform<double>({B, H}, -1, 1);
  const tg::State next = cell(tg::Tensor::constant(x), {tg::Tensor::constant(h), tg::Tensor::constant(c)});
  const auto Wi = cell.weight_ih.to_xarray<double>(), Wh = cell.weight_hh.to_xarray<double>(), bi = cell.bias_ih.to_xarray<double>(),
             bh = cell.bias_hh.to_xarray<double>();
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t j = 0; j < H; ++j) {
      auto gate = [&](std::size_t g) { return affine(Wi, bi, x, b, g * H + j) + affine(Wh, bh, h, b, g * H + j); };
      const double i_ = sigm(gate(0)), f_ = sigm(gate(1)), g_ = std::tanh(gate(2)), o_ = sigm(gate(3));
      const double c2 = f_ * c(b, j) + i_ * g_;
      CHECK(next[1].value<double>()(b, j) == doctest::Approx(c2).epsilon(1e-12));
      CHECK(next[0].value<double>()(b, j) == doctest::Approx(o_ * std::tanh(c2)).epsilon(1e-12));
    }
}

TEST_CASE("GRUCell: one step equals plain loops of PyTorch's equations") {
  tg::manual_seed(12);
  tg::GRUCell cell(I, H);
  cell.to(tg::kFloat64);
  const xt::xarray<double> x = tg::uniform<double>({B, I}, -1, 1), h = tg::uniform<double>({B, H}, -1, 1);
  const tg::State next = cell(tg::Tensor::constant(x), {tg::Tensor::constant(h)});
  const auto Wi = cell.weight_ih.to_xarray<double>(), Wh = cell.weight_hh.to_xarray<double>(), bi = cell.bias_ih.to_xarray<double>(),
             bh = cell.bias_hh.to_xarray<double>();
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t j = 0; j < H; ++j) {
      const double r = sigm(affine(Wi, bi, x, b, j) + affine(Wh, bh, h, b, j));
      const double z = sigm(affine(Wi, bi, x, b, H + j) + affine(Wh, bh, h, b, H + j));
      const double n = std::tanh(affine(Wi, bi, x, b, 2 * H + j) + r * affine(Wh, bh, h, b, 2 * H + j));
      CHECK(next[0].value<double>()(b, j) == doctest::Approx((1 - z) * n + z * h(b, j)).epsilon(1e-12));
    }
}

TEST_CASE("RNNCell: one step equals plain loops, tanh and relu") {
  tg::manual_seed(13);
  for (auto act : {tg::Nonlinearity::tanh, tg::Nonlinearity::relu}) {
    tg::RNNCell cell(I, H, act);
    cell.to(tg::kFloat64);
    const xt::xarray<double> x = tg::uniform<double>({B, I}, -1, 1), h = tg::uniform<double>({B, H}, -1, 1);
    const tg::State next = cell(tg::Tensor::constant(x), {tg::Tensor::constant(h)});
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t j = 0; j < H; ++j) {
        const double pre = affine(cell.weight_ih.to_xarray<double>(), cell.bias_ih.to_xarray<double>(), x, b, j) +
                           affine(cell.weight_hh.to_xarray<double>(), cell.bias_hh.to_xarray<double>(), h, b, j);
        const double want = act == tg::Nonlinearity::tanh ? std::tanh(pre) : std::max(pre, 0.0);
        CHECK(next[0].value<double>()(b, j) == doctest::Approx(want).epsilon(1e-12));
      }
  }
}

TEST_CASE("cells: gradcheck over 1 and 5 steps (inputs, initial state, every parameter)") {
  tg::manual_seed(21);
  tg::RNNCell rnn_tanh(I, H), rnn_relu(I, H, tg::Nonlinearity::relu);
  rnn_tanh.to(tg::kFloat64);
  rnn_relu.to(tg::kFloat64);
  tg::LSTMCell lstm(I, H);
  lstm.to(tg::kFloat64);
  tg::GRUCell gru(I, H);
  gru.to(tg::kFloat64);
  tg::LayerNormLSTMCell ln_lstm(I, H);
  ln_lstm.to(tg::kFloat64);
  const std::vector<std::pair<const char*, const tg::Cell*>> cells = {
      {"RNNCell tanh", &rnn_tanh}, {"RNNCell relu", &rnn_relu}, {"LSTMCell", &lstm}, {"GRUCell", &gru},
      {"LayerNormLSTMCell", &ln_lstm}};
  for (const auto& [name, cell] : cells)
    for (std::size_t steps : {1, 5}) {
      CAPTURE(name);
      CAPTURE(steps);
      gradcheck_cell(*cell, steps);
    }
}

TEST_CASE("BPTT: the gradient of a 2-step unrolled LSTM equals hand-composed ops") {
  tg::manual_seed(31);
  tg::LSTMCell cell(I, H);
  cell.to(tg::kFloat64);
  const tg::Tensor x0 = tgtest::param({B, I}), x1 = tgtest::param({B, I});
  // The cell.
  tg::State s = cell.initial_state(B);
  s = cell(x0, s);
  s = cell(x1, s);
  tg::sum(s[0] * s[0]).backward();
  const xt::xarray<double> dW_cell = cell.weight_hh.grad().value<double>(), dx0_cell = x0.grad().value<double>();
  cell.zero_grad();
  tg::Tensor(x0).zero_grad();
  // The same two steps composed by hand from matmul/transpose/slice, one gate at a time.
  auto step = [&](const tg::Tensor& x, const tg::Tensor& h, const tg::Tensor& c) {
    auto gate = [&](std::size_t g) {
      auto rows = [&](const tg::Tensor& W) { return tg::slice(W, 0, g * H, H); };  // [H, *]
      return tg::matmul(x, tg::transpose(rows(cell.weight_ih))) + tg::slice(cell.bias_ih, 0, g * H, H) +
             tg::matmul(h, tg::transpose(rows(cell.weight_hh))) + tg::slice(cell.bias_hh, 0, g * H, H);
    };
    tg::Tensor c2 = tg::sigmoid(gate(1)) * c + tg::sigmoid(gate(0)) * tg::tanh(gate(2));
    return std::make_pair(tg::sigmoid(gate(3)) * tg::tanh(c2), c2);
  };
  auto [h1, c1] = step(x0, tg::Tensor::zeros({B, H}, tg::kFloat64), tg::Tensor::zeros({B, H}, tg::kFloat64));
  auto [h2, c2] = step(x1, h1, c1);
  tg::sum(h2 * h2).backward();
  CHECK(xt::allclose(cell.weight_hh.grad().value<double>(), dW_cell, 1e-12, 1e-12));
  CHECK(xt::allclose(x0.grad().value<double>(), dx0_cell, 1e-12, 1e-12));
  CHECK(xt::amax(xt::abs(dx0_cell))() > 0.0);  // the gradient did flow back to step 0
}

TEST_CASE("cells: bad inputs and states are clear errors") {
  tg::LSTMCell cell(3, 4);
  const tg::Tensor x = tg::Tensor::zeros({2, 3});
  CHECK_THROWS_WITH_AS(cell(tg::Tensor::zeros({2, 5}), cell.initial_state(2)), doctest::Contains("[2, 5]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cell(x, {tg::Tensor::zeros({2, 4})}), doctest::Contains("needs 2"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cell(x, cell.initial_state(3)), doctest::Contains("[2, 4]"), std::invalid_argument);
  CHECK_THROWS_AS(tg::GRUCell(0, 4), std::invalid_argument);
}
