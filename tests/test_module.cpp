// Module: dotted PyTorch names, parameter counts, train/eval, freezing; Linear, Embedding, Dropout.
#include "test_helpers.hpp"

namespace {

// The char-LM shape: emb -> rnn -> out, registered like PyTorch's submodules.
struct TinyLM : tg::Module {
  tg::Embedding emb{10, 3};
  tg::LSTM rnn{3, 4, {2, false, 0.5}};
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
  tg::LinearT<double> lin(3, 2);
  CHECK(xt::amax(xt::abs(lin.weight.value<double>()))() <= 1.0 / std::sqrt(3.0));
  const tg::TensorD x = tg::TensorD::constant({{1.0, 2.0, 3.0}});
  const tg::TensorD y = lin(x);
  for (std::size_t o = 0; o < 2; ++o) {
    double want = lin.bias.value<double>()(o);
    for (std::size_t i = 0; i < 3; ++i) want += lin.weight.value<double>()(o, i) * x.value()(0, i);
    CHECK(y.value()(0, o) == doctest::Approx(want));
  }
  CHECK(lin(tg::TensorD::zeros({4, 5, 3})).shape() == tg::Shape{4, 5, 2});  // [T, B, I] -> [T, B, O]
  CHECK_THROWS_AS(lin(tg::TensorD::zeros({4, 2})), std::invalid_argument);

  tg::EmbeddingT<double> emb(5, 2);
  const tg::TensorD e = emb(xt::xarray<int>{{4, 0}});
  CHECK(e.shape() == tg::Shape{1, 2, 2});
  CHECK(e.value()(0, 0, 1) == emb.weight.value<double>()(4, 1));

  tg::DropoutT<double> drop(0.5);
  const tg::TensorD ones = tg::TensorD::full({1000}, 1.0);
  const auto kept = xt::sum(drop(ones).value<double>())();  // survivors are scaled by 2
  CHECK(kept == doctest::Approx(1000.0).epsilon(0.15));
  drop.eval();
  CHECK(drop(ones).value<double>() == ones.value());
  CHECK_THROWS_AS(tg::Dropout(1.5), std::invalid_argument);
}
