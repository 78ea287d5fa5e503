// Module: dotted PyTorch names, parameter counts, train/eval, freezing; Linear, Embedding, Dropout.
#include "test_helpers.hpp"

namespace {

// The char-LM shape: emb -> rnn -> out, registered like PyTorch's submodules.
struct TinyLM : tg::Module {
  tg::Embedding emb{10, 3};
  tg::LSTM rnn{tg::LSTMOptions(3, 4).num_layers(2).dropout(0.5)};
  tg::Linear out{4, 10};
  TinyLM() {
    register_module("emb", emb);
    register_module("rnn", rnn);
    register_module("out", out);
  }
};

}  // namespace

TEST_CASE("Module: names, order and count follow PyTorch's state_dict") {
  TinyLM m;
  std::vector<std::string> names;
  for (const auto& [name, p] : m.named_parameters()) names.push_back(name);
  const std::vector<std::string> want = {
      "emb.weight",         "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
      "rnn.weight_ih_l1",   "rnn.weight_hh_l1", "rnn.bias_ih_l1",   "rnn.bias_hh_l1", "out.weight",
      "out.bias"};
  CHECK(names == want);
  // 10*3 + (16*3 + 16*4 + 16 + 16) + (16*4 + 16*4 + 16 + 16) + 10*4 + 10
  CHECK(m.parameter_count() == 30 + 144 + 160 + 50);
  CHECK(m.parameter("rnn.weight_hh_l1").shape() == tg::Shape{16, 4});
  CHECK_THROWS_WITH_AS(m.parameter("rnn.nope"), doctest::Contains("rnn.nope"), std::out_of_range);
}

TEST_CASE("Module: train and eval reach every child, freezing turns requires_grad off") {
  TinyLM m;
  m.eval();
  CHECK_FALSE(m.rnn.is_training());
  m.train();
  CHECK(m.out.is_training());
  CHECK(m.set_requires_grad("emb.", false) == 1);
  CHECK_FALSE(m.emb.weight.requires_grad());
  CHECK(m.set_requires_grad("rnn.", false) == 8);
  CHECK_THROWS_AS(m.set_requires_grad("nothing", false), std::out_of_range);
}

TEST_CASE("Module: zero_grad() keeps zero gradients, zero_grad(true) releases them (set to none)") {
  TinyLM m;
  m.eval();
  const tg::Tensor x = tg::Tensor::constant(xt::ones<float>({2, 4}));
  (tg::sum(m.out(x)) + tg::sum(m.emb(xt::xarray<int>{{1, 2}}))).backward();  // reaches emb and out, not rnn
  CHECK(m.emb.weight.has_grad());
  CHECK_FALSE(m.rnn.parameter("weight_hh_l0").has_grad());
  m.zero_grad();
  CHECK(m.out.weight.has_grad());
  CHECK(xt::all(xt::equal(m.out.weight.grad().value<float>(), 0.0f)));
  CHECK_FALSE(m.rnn.parameter("weight_hh_l0").has_grad());  // zeroing creates none
  m.zero_grad(true);
  for (const auto& [name, p] : m.named_parameters()) CHECK_MESSAGE(!p.has_grad(), name);
  CHECK_FALSE(m.out.bias.grad().defined());
}

TEST_CASE("Linear, Embedding, Dropout: values, shapes and init") {
  tg::manual_seed(5);
  tg::Linear lin(3, 2);
  lin.to(tg::kFloat64);
  CHECK(xt::amax(xt::abs(lin.weight.value<double>()))() <= 1.0 / std::sqrt(3.0));
  const tg::Tensor x = tg::Tensor::constant(xt::xarray<double>{{1.0, 2.0, 3.0}});
  const tg::Tensor y = lin(x);
  for (std::size_t o = 0; o < 2; ++o) {
    double want = lin.bias.value<double>()(o);
    for (std::size_t i = 0; i < 3; ++i) want += lin.weight.value<double>()(o, i) * x.value<double>()(0, i);
    CHECK(y.value<double>()(0, o) == doctest::Approx(want));
  }
  CHECK(lin(tg::Tensor::zeros({4, 5, 3}, tg::kFloat64)).shape() == tg::Shape{4, 5, 2});  // [T, B, I] -> [T, B, O]
  CHECK_THROWS_AS(lin(tg::Tensor::zeros({4, 2}, tg::kFloat64)), std::invalid_argument);

  tg::Embedding emb(5, 2);
  emb.to(tg::kFloat64);
  const tg::Tensor e = emb(xt::xarray<int>{{4, 0}});
  CHECK(e.shape() == tg::Shape{1, 2, 2});
  CHECK(e.value<double>()(0, 0, 1) == emb.weight.value<double>()(4, 1));

  tg::Dropout drop(0.5);
  drop.to(tg::kFloat64);
  const tg::Tensor ones = tg::Tensor::full({1000}, 1.0, tg::kFloat64);
  const auto kept = xt::sum(drop(ones).value<double>())();  // survivors are scaled by 2
  CHECK(kept == doctest::Approx(1000.0).epsilon(0.15));
  drop.eval();
  CHECK(drop(ones).value<double>() == ones.value<double>());
  CHECK_THROWS_AS(tg::Dropout(1.5), std::invalid_argument);
}

TEST_CASE("Module::to converts in place: handles, an optimizer built before, and gradients follow") {
  tg::manual_seed(3);
  TinyLM m;
  tg::Tensor w = m.rnn.parameter("weight_hh_l1");  // a handle taken before the conversion
  tg::Adam opt(m.named_parameters());
  const tg::IdTensor ids = xt::xarray<std::int64_t>{{1, 2}, {3, 4}, {5, 6}};  // [T 3, B 2]
  auto loss_of = [&] { return tg::sum(tg::square(m.out(m.rnn(m.emb(ids)).output))); };
  loss_of().backward();
  opt.step();  // float32 state
  const xt::xarray<double> w32 = w.to_xarray<double>(), g32 = w.grad().to_xarray<double>();

  m.to(tg::kFloat64);
  CHECK(m.dtype() == tg::kFloat64);
  for (const auto& [name, p] : m.named_parameters()) {
    CAPTURE(name);
    CHECK(p.dtype() == tg::kFloat64);
  }
  CHECK(w.dtype() == tg::kFloat64);                // the same tensor, converted
  CHECK(w.to_xarray<double>() == w32);             // float32 -> float64 is exact
  CHECK(w.grad().to_xarray<double>() == g32);      // and so is its gradient
  CHECK(m.rnn.initial_state(2)[0][0].dtype() == tg::kFloat64);

  opt.zero_grad();
  loss_of().backward();                            // the model now runs in float64
  opt.step();                                      // the optimizer built before updates it
  CHECK(w.to_xarray<double>() != w32);
  for (const auto& [name, t] : opt.state()) {
    CAPTURE(name);
    CHECK(t.dtype() == tg::kFloat64);              // its state followed (Note [optimizer state dtype])
  }

  // Back to float32, then a float32 step from the float64 state.
  m.to(tg::kFloat32);
  opt.zero_grad();
  loss_of().backward();
  opt.step();
  CHECK(opt.state().front().second.dtype() == tg::kFloat32);
  CHECK(std::isfinite(loss_of().item()));
  tg::clear_tape();
}

TEST_CASE("Module::to refuses while the recorded graph uses a parameter; a view keeps its values") {
  tg::Linear lin(3, 2);
  const tg::Tensor y = lin(tg::Tensor::constant(xt::xarray<float>{{1.0f, 2.0f, 3.0f}}));  // on the tape
  CHECK_THROWS_WITH_AS(lin.to(tg::kFloat64),
                       "Module::to: 'weight' is used by the graph recorded since the last backward; "
                       "run backward() or clear_tape() before converting",
                       std::logic_error);
  CHECK(lin.dtype() == tg::kFloat32);  // nothing changed
  CHECK(lin.bias.dtype() == tg::kFloat32);
  tg::clear_tape();

  tg::Tensor view;
  {
    const tg::NoGradGuard no_grad;
    view = tg::reshape(lin.weight, {6});  // shares the weight's memory (Note [views])
  }
  const xt::xarray<float> before = view.to_xarray<float>();
  lin.to(tg::kFloat64);
  CHECK(lin.weight.dtype() == tg::kFloat64);
  CHECK(view.dtype() == tg::kFloat32);               // as a PyTorch view after module.to()
  CHECK(view.to_xarray<float>() == before);          // reads the old, still-alive memory
  lin.weight.mutable_data<double>()[0] = 42.0;       // no longer shared
  CHECK(view.data<float>()[0] == before(0));
}

TEST_CASE("README: gradcheck of a user's plain (non-template) model after Module::to(kFloat64)") {
  tg::manual_seed(4);
  // The README's example, as written there.
  struct Tagger : tg::Module {
    tg::Embedding emb{50, 8};
    tg::GRU rnn{8, 16};
    tg::Linear out{16, 5};
    Tagger() { register_module("emb", emb); register_module("rnn", rnn); register_module("out", out); }
    tg::Tensor forward(const tg::IdTensor& ids) const { return out(rnn(emb(ids)).output); }  // [T, B, 5]
  } model;
  model.to(tg::kFloat64);  // in place: the handles (and an optimizer made before) stay valid
  tg::IdTensor ids = xt::xarray<std::int64_t>{{1, 2}, {3, 4}};
  auto r = tg::gradcheck([&](const std::vector<tg::Tensor>&) { return model.forward(ids); }, model.parameters());
  CHECK_MESSAGE(r.passed, r);
  CHECK(model.out.weight.dtype() == tg::kFloat64);
  // The same model left in float32 is refused by name, not checked in low precision.
  struct Tagger32 : tg::Module {
    tg::Linear out{3, 2};
    Tagger32() { register_module("out", out); }
  } small;
  CHECK_THROWS_WITH_AS(tg::gradcheck([&](const std::vector<tg::Tensor>& in) { return small.out(in[0]); },
                                     {tg::Tensor::param(xt::xarray<double>{{1.0, 2.0, 3.0}})}),
                       doctest::Contains("float32"), std::invalid_argument);
}
