// Attention (layers/attention.cpp): the three score functions over a time-first source, masks,
// gradchecks in float64 of the compositions, and values against loops written here.
#include <cmath>
#include <fstream>
#include <vector>

#include "fixture_json.hpp"
#include "op_checks.hpp"

using tg::IdTensor;
using tg::Shape;
using tg::Tensor;

using tgtest::check_close;
using tgtest::check_error;

namespace {

constexpr std::size_t S = 4, B = 3, D = 5, Dv = 2;

// softmax(q·k/√D) and Σ w v, by loops, with mask [S, B] (1 = valid).
void reference(const xt::xarray<double>& q, const xt::xarray<double>& k, const xt::xarray<double>& v,
               const xt::xarray<std::int64_t>& mask, xt::xarray<double>& weights, xt::xarray<double>& context) {
  weights = xt::zeros<double>({B, S});
  context = xt::zeros<double>({B, Dv});
  for (std::size_t b = 0; b < B; ++b) {
    double total = 0;
    std::vector<double> e(S, 0.0);
    for (std::size_t s = 0; s < S; ++s) {
      if (!mask(s, b)) continue;
      double dot = 0;
      for (std::size_t d = 0; d < D; ++d) dot += q(b, d) * k(s, b, d);
      e[s] = std::exp(dot / std::sqrt(double(D)));
      total += e[s];
    }
    for (std::size_t s = 0; s < S; ++s) {
      weights(b, s) = total > 0 ? e[s] / total : 0.0;
      for (std::size_t j = 0; j < Dv; ++j) context(b, j) += weights(b, s) * v(s, b, j);
    }
  }
}

// Source lengths 4, 2 and 0 (the last query has nothing to attend to).
xt::xarray<std::int64_t> ragged_mask() {
  xt::xarray<std::int64_t> m = xt::zeros<std::int64_t>({S, B});
  for (std::size_t s = 0; s < S; ++s) {
    m(s, 0) = 1;
    m(s, 1) = s < 2;
  }
  return m;
}

}  // namespace

TEST_CASE("scaled dot-product attention: values and weights match loops, with and without a mask") {
  tg::manual_seed(167);
  const Tensor q = tgtest::param({B, D}), k = tgtest::param({S, B, D}), v = tgtest::param({S, B, Dv});
  xt::xarray<double> w, c;
  reference(q.to_xarray<double>(), k.to_xarray<double>(), v.to_xarray<double>(), xt::ones<std::int64_t>({S, B}), w, c);
  const tg::Attended all = tg::scaled_dot_product_attention(q, k, v);
  check_close(all.weights.value<double>(), w);
  check_close(all.context.value<double>(), c);
  const xt::xarray<std::int64_t> m = ragged_mask();
  reference(q.to_xarray<double>(), k.to_xarray<double>(), v.to_xarray<double>(), m, w, c);
  const tg::Attended masked = tg::scaled_dot_product_attention(q, k, v, IdTensor(m));
  check_close(masked.weights.value<double>(), w);
  check_close(masked.context.value<double>(), c);
  // Exactly zero where masked, and a query with no source gets zero weights and context.
  for (std::size_t s = 2; s < S; ++s) CHECK(masked.weights.value<double>()(1, s) == 0.0);
  for (std::size_t s = 0; s < S; ++s) CHECK(masked.weights.value<double>()(2, s) == 0.0);
  for (std::size_t j = 0; j < Dv; ++j) CHECK(masked.context.value<double>()(2, j) == 0.0);
  CHECK(xt::sum(masked.weights.value<double>())() == doctest::Approx(2.0));  // rows 0 and 1 sum to 1
}

TEST_CASE("attention: gradchecks of all three score functions, masked, with respect to inputs and parameters") {
  tg::manual_seed(173);
  const IdTensor m(ragged_mask());
  const std::vector<Tensor> inputs = {tgtest::param({B, D}), tgtest::param({S, B, D}), tgtest::param({S, B, Dv})};
  const tg::GradcheckFn dot = [m](const std::vector<Tensor>& in) {
    const tg::Attended a = tg::scaled_dot_product_attention(in[0], in[1], in[2], m);
    return tg::concat({a.context, a.weights}, 1);
  };
  CHECK_GRADCHECK(dot, inputs);
  auto luong = tgtest::to_f64(std::make_shared<tg::LuongAttention>(D, D));
  const tg::GradcheckFn fl = [luong, m](const std::vector<Tensor>& in) {
    const tg::Attended a = luong->forward(in[0], in[1], in[2], m);
    return tg::concat({a.context, a.weights}, 1);
  };
  std::vector<Tensor> with_luong = inputs;
  with_luong.push_back(luong->weight);
  CHECK_GRADCHECK(fl, with_luong);
  auto bahdanau = tgtest::to_f64(std::make_shared<tg::BahdanauAttention>(D, D, 6));
  const tg::GradcheckFn fb = [bahdanau, m](const std::vector<Tensor>& in) {
    const tg::Attended a = bahdanau->forward(in[0], in[1], in[2], m);
    return tg::concat({a.context, a.weights}, 1);
  };
  std::vector<Tensor> with_bahdanau = inputs;
  for (const auto& p : bahdanau->parameters()) with_bahdanau.push_back(p);
  CHECK_GRADCHECK(fb, with_bahdanau);
}

TEST_CASE("attention: Luong and Bahdanau scores are their formulas; a fully masked row takes no gradient") {
  tg::manual_seed(179);
  auto luong = tgtest::to_f64(std::make_shared<tg::LuongAttention>(D, 3));
  auto bahdanau = tgtest::to_f64(std::make_shared<tg::BahdanauAttention>(D, 3, 4));
  const Tensor q = tgtest::param({B, D}), k = tgtest::param({S, B, 3});
  const xt::xarray<double> qv = q.to_xarray<double>(), kv = k.to_xarray<double>();
  const xt::xarray<double> W = luong->weight.to_xarray<double>();
  const xt::xarray<double> Wq = bahdanau->query_weight.to_xarray<double>(), Uk = bahdanau->key_weight.to_xarray<double>();
  const xt::xarray<double> vv = bahdanau->v.to_xarray<double>();
  xt::xarray<double> luong_ref = xt::zeros<double>({B, S}), bahdanau_ref = xt::zeros<double>({B, S});
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t s = 0; s < S; ++s) {
      for (std::size_t i = 0; i < D; ++i)
        for (std::size_t j = 0; j < 3; ++j) luong_ref(b, s) += qv(b, i) * W(i, j) * kv(s, b, j);  // q W k
      for (std::size_t a = 0; a < 4; ++a) {
        double pre = 0;  // (W q + U k)_a
        for (std::size_t i = 0; i < D; ++i) pre += Wq(a, i) * qv(b, i);
        for (std::size_t j = 0; j < 3; ++j) pre += Uk(a, j) * kv(s, b, j);
        bahdanau_ref(b, s) += vv(a) * std::tanh(pre);
      }
    }
  check_close(luong->scores(q, k).value<double>(), luong_ref);
  check_close(bahdanau->scores(q, k).value<double>(), bahdanau_ref);
  const Tensor v = tgtest::param({S, B, Dv});
  check_close((*luong)(q, k, v).weights.value<double>(), tg::softmax(Tensor::constant(luong_ref), -1).value<double>());
  // The query with no valid source (b = 2) gets no gradient through the weights.
  Tensor scores = tgtest::param({B, S});
  const tg::Attended a = tg::attend(scores, tgtest::param({S, B, Dv}), IdTensor(ragged_mask()));
  tg::sum(a.context).backward();
  for (std::size_t s = 0; s < S; ++s) CHECK(scores.grad().value<double>()(2, s) == 0.0);
  for (std::size_t s = 2; s < S; ++s) CHECK(scores.grad().value<double>()(1, s) == 0.0);
}

TEST_CASE("attention: wrong shapes and masks name the layer and the shapes") {
  const Tensor q = tgtest::param({B, D}), k = tgtest::param({S, B, D}), v = tgtest::param({S, B, Dv});
  check_error<std::invalid_argument>([&] { tg::scaled_dot_product_attention(tgtest::param({D}), k, v); },
                                     {"scaled_dot_product_attention", "[B, Dq]"});
  check_error<std::invalid_argument>([&] { tg::scaled_dot_product_attention(q, tgtest::param({S, 2, D}), v); },
                                     {"scaled_dot_product_attention", "[4, 2, 5]"});
  check_error<std::invalid_argument>([&] { tg::scaled_dot_product_attention(q, k, tgtest::param({S + 1, B, Dv})); },
                                     {"values", "[5, 3, 2]"});
  check_error<std::invalid_argument>([&] { tg::scaled_dot_product_attention(q, k, v, IdTensor(xt::ones<std::int64_t>({B, S}))); },
                                     {"mask", "[4, 3]", "[3, 4]"});
  auto luong = tgtest::to_f64(std::make_shared<tg::LuongAttention>(D, 7));
  check_error<std::invalid_argument>([&] { luong->forward(q, k, v); }, {"LuongAttention", "7"});
  check_error<std::invalid_argument>([&] { tg::BahdanauAttention(D, 0, 3); }, {"BahdanauAttention", "positive"});
  tgtest::check_tape_still_works();
}

// ===== MultiheadAttention: parity with torch.nn.MultiheadAttention =====

namespace {

const nlohmann::json& mha_fixtures() {
  static const nlohmann::json fx = [] {
    std::ifstream in(std::string(TAPEGRAD_FIXTURES_DIR) + "/multihead_attention.json");
    REQUIRE_MESSAGE(in.good(), "missing fixture multihead_attention.json");
    return nlohmann::json::parse(in);
  }();
  return fx;
}

// Within 1e-10 + 1e-9 |ref|: both sides compute in float64.
void check_parity(const std::string& what, const Tensor& got, const nlohmann::json& want) {
  CAPTURE(what);
  check_close(got.to_xarray<double>(), tgtest::load_array<double>(want), 1e-9);
}

}  // namespace

TEST_CASE("MultiheadAttention: PyTorch's parameter names, outputs, averaged weights and gradients (key padding mask)") {
  std::size_t cases = 0;
  for (const auto& c : mha_fixtures().at("cases")) {
    tg::MultiheadAttention mha(c.at("embed_dim").get<std::size_t>(), c.at("num_heads").get<std::size_t>());
    mha.to(tg::kFloat64);
    REQUIRE(mha.named_parameters().size() == c.at("params").size());
    for (auto& [name, p] : mha.named_parameters()) {
      REQUIRE_MESSAGE(c.at("params").contains(name), "PyTorch has no parameter " << name);
      const xt::xarray<double> value = tgtest::load_array<double>(c.at("params").at(name));
      REQUIRE(Shape(value.shape()) == p.shape());
      std::copy(value.begin(), value.end(), p.mutable_data<double>());
    }
    const Tensor q = Tensor::param(tgtest::load_array<double>(c.at("query")));
    const Tensor k = Tensor::param(tgtest::load_array<double>(c.at("key")));
    const Tensor v = Tensor::param(tgtest::load_array<double>(c.at("value")));
    const IdTensor mask(tgtest::load_array<std::int64_t>(c.at("mask")));
    const tg::MultiheadAttended out = mha(q, k, v, mask);
    check_parity("output", out.output, c.at("output"));
    check_parity("weights", out.weights, c.at("weights"));
    Tensor loss = tg::sum(out.output * Tensor::constant(tgtest::load_array<double>(c.at("w_output")))) +
                        tg::sum(out.weights * Tensor::constant(tgtest::load_array<double>(c.at("w_weights"))));
    loss.backward();
    check_parity("grad query", q.grad(), c.at("grad_query"));
    check_parity("grad key", k.grad(), c.at("grad_key"));
    check_parity("grad value", v.grad(), c.at("grad_value"));
    for (const auto& [name, p] : mha.named_parameters()) check_parity("grad " + name, p.grad(), c.at("grads").at(name));
    ++cases;
  }
  CHECK(cases == 2);
}

TEST_CASE("MultiheadAttention: gradcheck, per-head weights, a fully masked source, and bad shapes") {
  tg::manual_seed(181);
  auto mha = tgtest::to_f64(std::make_shared<tg::MultiheadAttention>(4, 2));
  xt::xarray<std::int64_t> m = xt::ones<std::int64_t>({3, 2});
  m(2, 0) = 0;
  m(0, 1) = m(1, 1) = m(2, 1) = 0;  // stream 1 has no valid source
  const IdTensor mask(m);
  const tg::GradcheckFn f = [mha, mask](const std::vector<Tensor>& in) { return mha->forward(in[0], in[1], in[2], mask).output; };
  std::vector<Tensor> inputs = {tgtest::param({2, 2, 4}), tgtest::param({3, 2, 4}), tgtest::param({3, 2, 4})};
  for (const auto& p : mha->parameters()) inputs.push_back(p);
  CHECK_GRADCHECK(f, inputs);
  const tg::MultiheadAttended per_head = mha->forward(inputs[0], inputs[1], inputs[2], mask, false);
  CHECK(per_head.weights.shape() == Shape{2, 2, 2, 3});
  const tg::MultiheadAttended avg = mha->forward(inputs[0], inputs[1], inputs[2], mask);
  check_close(avg.weights.value<double>(), tg::mean(per_head.weights, 1).value<double>());
  for (std::size_t l = 0; l < 2; ++l)
    for (std::size_t s = 0; s < 3; ++s) CHECK(avg.weights.value<double>()(1, l, s) == 0.0);
  CHECK(avg.weights.value<double>()(0, 0, 2) == 0.0);
  // The masked stream's output is out_proj's bias alone.
  for (std::size_t j = 0; j < 4; ++j)
    CHECK(avg.output.value<double>()(0, 1, j) == doctest::Approx(mha->out_proj.bias.value<double>()(j)));
  check_error<std::invalid_argument>([] { tg::MultiheadAttention(6, 4); }, {"MultiheadAttention", "6", "4"});
  check_error<std::invalid_argument>([&] { mha->forward(inputs[0], tgtest::param({3, 2, 5}), inputs[2]); },
                                     {"MultiheadAttention", "[3, 2, 5]"});
  check_error<std::invalid_argument>([&] { mha->forward(inputs[0], inputs[1], inputs[2], IdTensor(xt::ones<std::int64_t>({2, 3}))); },
                                     {"MultiheadAttention", "mask", "[3, 2]"});
}
