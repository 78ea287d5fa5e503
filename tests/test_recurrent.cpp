// Sequence layers: gradchecks of stacked and bidirectional layers, TBPTT, masks, custom cells.
//   T time, B batch, I input, H hidden
#include <cmath>

#include "test_helpers.hpp"

#include <tapegrad/autograd/detail/node.hpp>  // TimeStepScope

using tg::Tensor;


namespace {

std::unique_ptr<tg::Recurrent> make_layer(const std::string& kind, std::size_t I, std::size_t H, std::size_t layers,
                                          bool bidirectional) {
  if (kind == "rnn")
    return tgtest::to_f64(std::make_unique<tg::RNN>(tg::RNNOptions(I, H).num_layers(layers).bidirectional(bidirectional)));
  if (kind == "lstm")
    return tgtest::to_f64(std::make_unique<tg::LSTM>(tg::LSTMOptions(I, H).num_layers(layers).bidirectional(bidirectional)));
  return tgtest::to_f64(std::make_unique<tg::GRU>(tg::GRUOptions(I, H).num_layers(layers).bidirectional(bidirectional)));
}

// Every output and every final state tensor, flattened into one [N] tensor.
tg::Tensor everything(const tg::RecurrentOutput& out) {
  std::vector<Tensor> parts = {tg::reshape(out.output, {out.output.numel()})};
  for (const auto& s : out.states)
    for (const auto& t : s) parts.push_back(tg::reshape(t, {t.numel()}));
  return tg::concat(parts, 0);
}

}  // namespace

TEST_CASE("Recurrent: gradcheck of 2-layer RNN, LSTM and GRU, one and two directions") {
  const std::size_t T = 3, B = 2, I = 3, H = 3;
  for (const std::string kind : {"rnn", "lstm", "gru"})
    for (bool bidir : {false, true}) {
      CAPTURE(kind);
      CAPTURE(bidir);
      tg::manual_seed(71);
      auto layer = make_layer(kind, I, H, 2, bidir);
      std::vector<Tensor> inputs = {tgtest::param({T, B, I})};
      const std::size_t S = kind == "lstm" ? 2 : 1, cells = 2 * layer->num_directions();
      for (std::size_t k = 0; k < cells * S; ++k) inputs.push_back(tgtest::param({B, H}, -0.5, 0.5));
      for (const auto& p : layer->parameters()) inputs.push_back(p);
      auto f = [&](const std::vector<Tensor>& in) {
        std::vector<tg::State> init(cells);
        for (std::size_t k = 0; k < cells; ++k) init[k].assign(in.begin() + 1 + k * S, in.begin() + 1 + (k + 1) * S);
        return everything(layer->forward(in[0], init));
      };
      CHECK_GRADCHECK(f, inputs);
    }
}

TEST_CASE("Recurrent: output shapes, PyTorch names and h_n stacking") {
  tg::LSTM lstm(tg::LSTMOptions(5, 7).num_layers(3).bidirectional(true));
  const auto out = lstm(tg::Tensor::zeros({4, 2, 5}));
  CHECK(out.output.shape() == tg::Shape{4, 2, 14});
  REQUIRE(out.states.size() == 6);
  CHECK(tg::stack_states(out.states, 1).shape() == tg::Shape{6, 2, 7});
  CHECK(lstm.parameter("weight_ih_l1_reverse").shape() == tg::Shape{28, 14});
  CHECK(lstm.parameter("bias_hh_l2").shape() == tg::Shape{28});
  CHECK_THROWS_WITH_AS(lstm(tg::Tensor::zeros({4, 2, 6})), doctest::Contains("[4, 2, 6]"), std::invalid_argument);
  CHECK_THROWS_AS(lstm(tg::Tensor::zeros({4, 2, 5}), lstm.initial_state(3)), std::invalid_argument);
  CHECK_THROWS_AS(tg::GRU(tg::GRUOptions(3, 3).num_layers(0)), std::invalid_argument);
}

TEST_CASE("Recurrent: final states by layer and direction name what PyTorch's h_n and c_n hold") {
  const std::size_t T = 4, B = 2, H = 3;
  tg::manual_seed(73);
  tg::LSTM lstm(tg::LSTMOptions(2, H).num_layers(2).bidirectional(true));
  const auto out = lstm(tg::Tensor::constant(tg::randn<float>({T, B, 2})));
  const xt::xarray<float> y = out.output.value<float>();  // [T, B, 2H]: [forward | reverse]
  // The last layer's forward direction ends at t = T-1, its reverse direction at t = 0.
  CHECK(out.h(1).value<float>() == xt::xarray<float>(xt::view(y, T - 1, xt::all(), xt::range(0, H))));
  CHECK(out.h(1, tg::Direction::reverse).value<float>() == xt::xarray<float>(xt::view(y, 0, xt::all(), xt::range(H, 2 * H))));
  CHECK(out.num_layers() == 2);
  CHECK(out.num_directions() == 2);
  // PyTorch's order [l*D + d], by name.
  const xt::xarray<float> h_n = out.h_n().value<float>(), c_n = out.c_n().value<float>();  // [L*D, B, H]
  for (std::size_t l = 0; l < 2; ++l)
    for (std::size_t d = 0; d < 2; ++d) {
      const auto dir = d ? tg::Direction::reverse : tg::Direction::forward;
      CHECK(out.h(l, dir).value<float>() == xt::xarray<float>(xt::view(h_n, l * 2 + d)));
      CHECK(out.c(l, dir).value<float>() == xt::xarray<float>(xt::view(c_n, l * 2 + d)));
      CHECK(&out.state(l, dir) == &out.states[l * 2 + d]);
    }
  CHECK_THROWS_WITH_AS(out.h(2), doctest::Contains("no layer 2"), std::out_of_range);
  tg::GRU gru(tg::GRUOptions(2, H));
  const auto g = gru(tg::Tensor::zeros({T, B, 2}));
  CHECK(g.h(0).shape() == tg::Shape{B, H});
  CHECK_THROWS_WITH_AS(g.h(0, tg::Direction::reverse), doctest::Contains("no layer 0 reverse"), std::out_of_range);
  CHECK_THROWS_WITH_AS(g.c(0), doctest::Contains("no cell state"), std::out_of_range);
  CHECK_THROWS_WITH_AS(g.c_n(), doctest::Contains("no cell state"), std::out_of_range);
}

TEST_CASE("Recurrent options: setters chain in their own type and reach the layer") {
  static_assert(std::is_same_v<decltype(tg::LSTMOptions(1, 1).num_layers(2)), tg::LSTMOptions&>);
  static_assert(std::is_same_v<decltype(tg::RNNOptions(1, 1).dropout(0.1)), tg::RNNOptions&>);
  const auto o = tg::LSTMOptions(3, 5).num_layers(2).bidirectional(true).dropout(0.25).forget_bias_one(true);
  tg::LSTM lstm(o);
  CHECK(lstm.input_size() == 3);
  CHECK(lstm.hidden_size() == 5);
  CHECK(lstm.num_layers() == 2);
  CHECK(lstm.num_directions() == 2);
  CHECK(lstm.options().dropout() == 0.25);
  // forget_bias_one: b_ih's forget slice [H, 2H) is 1 at init.
  const xt::xarray<float> b = lstm.parameter("bias_ih_l1_reverse").value<float>();
  CHECK(xt::all(xt::equal(xt::view(b, xt::range(5, 10)), 1.0f)));
  tg::RNN relu(tg::RNNOptions(2, 3).nonlinearity(tg::Nonlinearity::relu));
  CHECK(dynamic_cast<const tg::RNNCell&>(relu.cell(0)).nonlinearity() == tg::Nonlinearity::relu);
  CHECK_THROWS_WITH_AS(tg::GRU(tg::GRUOptions(3, 3).dropout(1.5)), doctest::Contains("dropout"), std::invalid_argument);
}

TEST_CASE("Recurrent: dropout between layers acts in train mode only") {
  tg::manual_seed(72);
  tg::GRU drop(tg::GRUOptions(3, 4).num_layers(2).dropout(0.5));
  drop.to(tg::kFloat64);
  const tg::Tensor x = tg::Tensor::constant(tg::randn<double>({5, 2, 3}));
  drop.eval();
  const xt::xarray<double> a = drop(x).output.value<double>(), b = drop(x).output.value<double>();
  CHECK(a == b);
  drop.train();
  CHECK_FALSE(xt::allclose(drop(x).output.value<double>(), a));
  tg::clear_tape();
}

TEST_CASE("TBPTT: block 2's gradients equal a run of block 2 alone from block 1's detached state") {
  tg::manual_seed(73);
  tg::LSTM lstm(tg::LSTMOptions(3, 4).num_layers(2));
  lstm.to(tg::kFloat64);
  const tg::Tensor x = tg::Tensor::constant(tg::randn<double>({8, 2, 3}));
  const tg::Tensor x1 = tg::slice(x, 0, 0, 4), x2 = tg::slice(x, 0, 4, 4);
  const auto whole = lstm(x).output.to_xarray<double>();  // an uncut run, for the forward values
  tg::clear_tape();

  tg::TBPTT tbptt(lstm, 4);
  const auto out1 = tbptt.forward(x1);
  tg::sum(out1.output).backward();
  lstm.zero_grad();
  const std::vector<tg::State> carried = tbptt.state();
  const auto out2 = tbptt.forward(x2);
  tg::sum(tg::square(out2.output)).backward();
  const xt::xarray<double> g_tbptt = lstm.parameter("weight_hh_l0").grad().value<double>();
  // The forward values equal the uncut run's, block by block.
  CHECK(xt::allclose(out1.output.value<double>(), xt::view(whole, xt::range(0, 4)), 1e-12, 1e-12));
  CHECK(xt::allclose(out2.output.value<double>(), xt::view(whole, xt::range(4, 8)), 1e-12, 1e-12));

  lstm.zero_grad();
  const auto alone = lstm.forward(x2, carried);  // block 2 from the detached state
  tg::sum(tg::square(alone.output)).backward();
  CHECK(lstm.parameter("weight_hh_l0").grad().value<double>() == g_tbptt);  // identical, bit for bit
  CHECK(xt::amax(xt::abs(g_tbptt))() > 0.0);
}

TEST_CASE("TBPTT(k1, k2): the gradient flows back through the last k2 steps only") {
  tg::manual_seed(74);
  tg::GRU gru(2, 3);
  gru.to(tg::kFloat64);
  tg::Tensor x = tg::Tensor::param(tg::randn<double>({6, 1, 2}));
  tg::TBPTT tbptt(gru, 6, 2);  // k1 = 6, k2 = 2: detach before step 4
  tg::sum(tbptt.forward(x).output).backward();
  const xt::xarray<double> gx = x.grad().value<double>();
  // A loss on steps 4 and 5 reaches inputs 4 and 5 only; the loss at every step t reaches x_t.
  for (std::size_t t = 0; t < 6; ++t) CHECK(xt::amax(xt::abs(xt::view(gx, t)))() > 0.0);
  x.zero_grad();
  tg::TBPTT cut(gru, 6, 2);
  tg::sum(tg::slice(cut.forward(x).output, 0, 5, 1)).backward();  // the loss at the last step only
  const xt::xarray<double> g_last = x.grad().value<double>();
  for (std::size_t t = 0; t < 4; ++t) CHECK(xt::amax(xt::abs(xt::view(g_last, t)))() == 0.0);
  CHECK(xt::amax(xt::abs(xt::view(g_last, 4)))() > 0.0);
  CHECK_THROWS_WITH_AS(tg::TBPTT(gru, 4, 5), doctest::Contains("exceeds k1"), std::invalid_argument);
}

TEST_CASE("TBPTT: bidirectional layers, oversized blocks and carrying without detach are clear errors") {
  tg::LSTM bi(tg::LSTMOptions(2, 3).bidirectional(true));
  CHECK_THROWS_WITH_AS(tg::TBPTT(bi, 4), doctest::Contains("bidirectional"), std::invalid_argument);
  tg::LSTM lstm(2, 3);
  tg::TBPTT tbptt(lstm, 4);
  CHECK_THROWS_WITH_AS(tbptt.forward(tg::Tensor::zeros({5, 1, 2})), doctest::Contains("k1 = 4"), std::invalid_argument);
  // Carrying the state by hand without detaching: block 2's backward reaches block 1's freed tape.
  auto out1 = lstm(tg::Tensor::zeros({4, 1, 2}));
  tg::sum(out1.output).backward();
  auto out2 = lstm(tg::Tensor::zeros({4, 1, 2}), out1.states);
  CHECK_THROWS_WITH_AS(tg::sum(out2.output).backward(), doctest::Contains("detach the carried state"), std::logic_error);
}

TEST_CASE("masks: a padded batch of lengths 3..9 equals running each sequence alone") {
  const std::size_t T = 9, B = 7, I = 2, H = 3;
  for (bool bidir : {false, true}) {
    CAPTURE(bidir);
    tg::manual_seed(75);
    tg::LSTM lstm(tg::LSTMOptions(I, H).num_layers(2).bidirectional(bidir));
    lstm.to(tg::kFloat64);
    const std::size_t D = bidir ? 2 : 1;
    const xt::xarray<double> x = tg::randn<double>({T, B, I}), w = tg::randn<double>({T, B, D * H});
    std::vector<std::size_t> lengths;
    for (std::size_t b = 0; b < B; ++b) lengths.push_back(3 + b);
    const tg::SequenceMask mask(lengths, T);
    // Batched: loss over the real steps (padded outputs are zero) and every final state.
    const auto batched = lstm.forward(tg::Tensor::constant(x), mask);
    tg::Tensor loss = tg::sum(batched.output * tg::Tensor::constant(w));
    for (const auto& s : batched.states) loss = loss + tg::sum(s[0]) + tg::sum(s[1]);
    loss.backward();
    std::vector<xt::xarray<double>> g_batched;
    for (const auto& p : lstm.parameters()) g_batched.push_back(p.grad().value<double>());
    lstm.zero_grad();
    // One at a time.
    for (std::size_t b = 0; b < B; ++b) {
      const std::size_t n = lengths[b];
      const xt::xarray<double> xb = xt::view(x, xt::range(0, n), xt::range(b, b + 1), xt::all());
      const xt::xarray<double> wb = xt::view(w, xt::range(0, n), xt::range(b, b + 1), xt::all());
      const auto alone = lstm.forward(tg::Tensor::constant(xb));
      const xt::xarray<double> ob = xt::view(batched.output.value<double>(), xt::range(0, n), xt::range(b, b + 1), xt::all());
      CHECK(xt::allclose(alone.output.value<double>(), ob, 1e-12, 1e-12));
      if (n < T) {  // padded outputs are zeros
        const xt::xarray<double> pad = xt::view(batched.output.value<double>(), xt::range(n, T), b, xt::all());
        CHECK(xt::amax(xt::abs(pad))() == 0.0);
      }
      for (std::size_t k = 0; k < alone.states.size(); ++k)
        for (std::size_t j = 0; j < 2; ++j)
          CHECK(xt::allclose(alone.states[k][j].value<double>(), xt::view(batched.states[k][j].value<double>(), xt::range(b, b + 1)),
                             1e-12, 1e-12));
      tg::Tensor lb = tg::sum(alone.output * tg::Tensor::constant(wb));
      for (const auto& s : alone.states) lb = lb + tg::sum(s[0]) + tg::sum(s[1]);
      lb.backward();  // gradients of the B runs add up in the parameters
    }
    const auto params = lstm.parameters();
    for (std::size_t k = 0; k < params.size(); ++k)
      CHECK(xt::allclose(params[k].grad().value<double>(), g_batched[k], 1e-10, 1e-12));
  }
}

TEST_CASE("masks: built from a [T, B] 0/1 tensor, which must be 1s then 0s") {
  const tg::SequenceMask m(xt::xarray<int>{{1, 1}, {1, 0}, {0, 0}});
  CHECK(m.lengths() == std::vector<std::size_t>{2, 1});
  CHECK(m.as_ids().array() == xt::xarray<std::int64_t>{{1, 1}, {1, 0}, {0, 0}});
  CHECK_THROWS_WITH_AS(tg::SequenceMask(xt::xarray<int>{{1, 0}, {0, 1}}), doctest::Contains("1s then 0s"),
                       std::invalid_argument);
  CHECK_THROWS_AS(tg::SequenceMask(xt::xarray<int>{{2, 1}}), std::invalid_argument);
  CHECK_THROWS_AS(tg::SequenceMask({4}, 3), std::invalid_argument);
}

TEST_CASE("custom cell: a LayerNorm-LSTM runs in Recurrent and trains through TBPTT") {
  tg::manual_seed(76);
  const std::size_t H = 16;
  tg::Recurrent layer(tg::RecurrentOptions(1, H), [](std::size_t in, std::size_t h) {
    return std::make_unique<tg::LayerNormLSTMCell>(in, h);
  });
  CHECK(layer.parameter("ln_c_weight_l0").shape() == tg::Shape{H});
  tg::Linear head(H, 1);
  std::vector<tg::Tensor> params = layer.parameters();
  for (auto& p : head.parameters()) params.push_back(p);
  // Predict the next value of a sine wave, 4 blocks of 10 steps per epoch, TBPTT carried.
  xt::xarray<float> wave = xt::sin(xt::linspace<float>(0.0f, 12.0f, 41));
  tg::TBPTT tbptt(layer, 10);
  double first = 0, last = 0;
  for (int epoch = 0; epoch < 100; ++epoch) {
    tbptt.reset();
    double total = 0;
    for (std::size_t blk = 0; blk < 4; ++blk) {
      xt::xarray<float> xb = xt::view(wave, xt::range(blk * 10, blk * 10 + 10));
      xt::xarray<float> yb = xt::view(wave, xt::range(blk * 10 + 1, blk * 10 + 11));
      xb.reshape({10, 1, 1});
      yb.reshape({10, 1});
      const auto out = tbptt.forward(tg::Tensor::constant(xb));
      tg::Tensor loss = tg::mse(head(tg::reshape(out.output, {10, H})), tg::Tensor::constant(yb));
      loss.backward();
      for (auto& p : params) {
        float* w = p.mutable_data<float>();
        for (std::size_t i = 0; i < p.numel(); ++i) w[i] -= 0.05f * p.grad_data<float>()[i];
        p.zero_grad();
      }
      total += loss.item();
    }
    if (epoch == 0) first = total;
    last = total;
  }
  MESSAGE("LayerNorm-LSTM sine loss: first epoch " << first << ", last " << last);
  CHECK(last < 0.1 * first);
}

namespace {

// A user's own cell that holds a Dropout on the recurrent input, registered as a user would
// (register_parameter, register_module).
struct DropoutRNNCell : tg::Cell {
  tg::Tensor weight_ih, weight_hh;
  tg::Dropout drop{0.5};
  DropoutRNNCell(std::size_t I, std::size_t H) : tg::Cell(I, H, "DropoutRNNCell") {
    weight_ih = register_parameter("weight_ih", tg::Tensor::param(tg::uniform<double>({H, I}, -0.5, 0.5)));
    weight_hh = register_parameter("weight_hh", tg::Tensor::param(tg::uniform<double>({H, H}, -0.5, 0.5)));
    register_module("drop", drop);
  }
  std::size_t state_size() const override { return 1; }
  Tensor project_input(const Tensor& x) const override { return tg::matmul(x, tg::transpose(weight_ih)); }
  tg::State step(const Tensor& xp, const tg::State& state) const override {
    return {tg::tanh(xp + tg::matmul(drop(state[0]), tg::transpose(weight_hh)))};
  }
};

}  // namespace

TEST_CASE("train and eval reach the cells inside Recurrent, and a user cell's own Dropout") {
  tg::manual_seed(78);
  tg::Recurrent layer(tg::RecurrentOptions(3, 6).num_layers(2).bidirectional(true), [](std::size_t in, std::size_t h) {
    return std::make_unique<DropoutRNNCell>(in, h);
  });
  CHECK(layer.parameter("weight_hh_l1_reverse").shape() == tg::Shape{6, 6});
  CHECK(layer.parameters().size() == 8);  // the Dropouts hold none
  struct Model : tg::Module {  // the layer as a user's submodule
    tg::Recurrent& rnn;
    explicit Model(tg::Recurrent& r) : rnn(r) { register_module("rnn", rnn); }
  } model(layer);
  const tg::Tensor x = tg::Tensor::constant(tg::randn<double>({5, 4, 3}));
  model.eval();
  for (std::size_t l = 0; l < 2; ++l)
    for (auto d : {tg::Direction::forward, tg::Direction::reverse}) CHECK_FALSE(layer.cell(l, d).is_training());
  const auto& cell = dynamic_cast<const DropoutRNNCell&>(layer.cell(1, tg::Direction::reverse));
  CHECK_FALSE(cell.drop.is_training());
  const xt::xarray<double> a = layer(x).output.value<double>(), b = layer(x).output.value<double>();
  CHECK(a == b);  // no dropout in eval mode
  model.train();
  CHECK(layer.cell(0).is_training());
  CHECK(cell.drop.is_training());
  CHECK_FALSE(xt::allclose(layer(x).output.value<double>(), a));
  tg::clear_tape();
}

TEST_CASE("hello: an LSTM learns to predict ello from hell") {
  tg::manual_seed(77);
  // vocabulary h e l o -> 0 1 2 3
  xt::xarray<int> hell = {0, 1, 2, 2}, ello = {1, 2, 2, 3};
  hell.reshape({4, 1});  // [T=4, B=1]
  ello.reshape({4, 1});
  const tg::IdTensor input = hell, target = ello;
  tg::Embedding emb(4, 8);
  tg::LSTM lstm(8, 16);
  tg::Linear out(16, 4);
  std::vector<tg::Tensor> params = emb.parameters();
  for (auto* m : std::initializer_list<const tg::Module*>{&lstm, &out})
    for (auto& p : m->parameters()) params.push_back(p);
  tg::Tensor logits;
  for (int step = 0; step < 100; ++step) {
    logits = out(lstm(emb(input)).output);  // [4, 1, 4]
    tg::cross_entropy(logits, target).backward();
    for (auto& p : params) {
      float* w = p.mutable_data<float>();
      for (std::size_t i = 0; i < p.numel(); ++i) w[i] -= 0.5f * p.grad_data<float>()[i];
      p.zero_grad();
    }
  }
  std::string predicted;
  for (std::size_t t = 0; t < 4; ++t) {
    const auto row = xt::view(logits.value<float>(), t, 0, xt::all());
    predicted += "helo"[xt::argmax(row)()];
  }
  CHECK(predicted == "ello");
}

TEST_CASE("anomaly mode: names the op and the time step that first produced NaN/Inf in a sequence layer") {
  // A relu RNN whose recurrent weights are 1e150: h grows ~1e150x per step and overflows at step 3.
  tg::RNN rnn(tg::RNNOptions(1, 3).nonlinearity(tg::Nonlinearity::relu));
  rnn.to(tg::kFloat64);
  for (const auto& [name, p] : rnn.named_parameters()) {
    const double v = name.rfind("weight_hh", 0) == 0 ? 1e150 : name.rfind("weight_ih", 0) == 0 ? 1.0 : 0.0;
    std::fill_n(tg::Tensor(p).mutable_data<double>(), p.numel(), v);
  }
  tg::AnomalyModeGuard anomaly;
  CHECK_THROWS_WITH_AS(rnn(tg::Tensor::full({6, 1, 1}, 1.0, tg::kFloat64)), doctest::Contains("at time step 3"), tg::NonFiniteError);
  tg::clear_tape();
  // Backward: sqrt(0) is finite, its derivative is not; the node remembers its step.
  tg::Tensor z = tg::Tensor::param(xt::xarray<double>{0.0});
  tg::Tensor total = tg::Tensor::scalar(0.0, tg::kFloat64);
  for (long t = 0; t < 4; ++t) {
    const tg::detail::TimeStepScope scope(t);
    total = total + tg::sum(t == 2 ? tg::sqrt(z) : z * 2.0);
  }
  CHECK_THROWS_WITH_AS(total.backward(), doctest::Contains("'sqrt' at time step 2"), tg::NonFiniteError);
  tg::clear_tape();
}
