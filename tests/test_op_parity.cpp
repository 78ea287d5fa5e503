// Forward and gradient parity of the general ops with PyTorch: tests/fixtures/ops.json, written
// by tests/fixtures/make_op_fixtures.py (python3-torch, run by hand), holds each case's inputs,
// output and the gradients of sum(output * w). tapegrad runs the same op in float64 and must
// match within 1e-10 + 1e-9 |ref|. No Python needed here.
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "fixture_json.hpp"
#include "test_helpers.hpp"

using tg::Tensor;
using json = nlohmann::json;

namespace {

xt::xarray<double> load(const json& j) { return tgtest::load_array<double>(j); }
tg::IdTensor load_ids(const json& j) { return tg::IdTensor(tgtest::load_array<std::int64_t>(j)); }

// Within 1e-10 + 1e-9 |ref| everywhere, with the same shape.
void check_close(const std::string& what, const xt::xarray<double>& got, const xt::xarray<double>& want) {
  REQUIRE_MESSAGE(tg::Shape(got.shape()) == tg::Shape(want.shape()),
                  what << ": shape " << tg::to_string(tg::Shape(got.shape())) << ", PyTorch "
                       << tg::to_string(tg::Shape(want.shape())));
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double g = got.data()[i], w = want.data()[i];
    const bool close = g == w || std::abs(g - w) <= 1e-10 + 1e-9 * std::abs(w);  // g == w: equal infinities
    REQUIRE_MESSAGE(close,
                    what << ": element " << i << " is " << g << ", PyTorch " << w);
  }
}

using Op = std::function<Tensor(const std::vector<Tensor>&, const std::vector<tg::IdTensor>&, const json&)>;

// Each fixture op, called the tapegrad way with the case's arguments.
// A comparison's 0/1 mask as a float64 tensor, so it compares like the other outputs.
Tensor mask_values(const tg::IdTensor& m) { return Tensor::constant(xt::xarray<double>(xt::cast<double>(m.array()))); }

long axis(const json& p) { return p.at("axis").get<long>(); }
bool keepdims(const json& p) { return p.value("keepdims", false); }

// eq(a, b), or eq(a, scalar) when the case has one; and the same for ne, lt, le, gt, ge.
template <class Compare>
Op comparison(Compare compare) {
  return [compare](const std::vector<Tensor>& x, const std::vector<tg::IdTensor>&, const json& p) {
    return mask_values(p.contains("scalar") ? compare(x[0], p.at("scalar").get<double>()) : compare(x[0], x[1]));
  };
}

const std::map<std::string, Op>& ops() {
  static const std::map<std::string, Op> table = {
      {"eq", comparison([](const Tensor& a, const auto& b) { return tg::eq(a, b); })},
      {"ne", comparison([](const Tensor& a, const auto& b) { return tg::ne(a, b); })},
      {"lt", comparison([](const Tensor& a, const auto& b) { return tg::lt(a, b); })},
      {"le", comparison([](const Tensor& a, const auto& b) { return tg::le(a, b); })},
      {"gt", comparison([](const Tensor& a, const auto& b) { return tg::gt(a, b); })},
      {"ge", comparison([](const Tensor& a, const auto& b) { return tg::ge(a, b); })},
      {"where", [](const auto& x, const auto& ids, const json&) { return tg::where(ids[0], x[0], x[1]); }},
      {"max", [](const auto& x, const auto&, const json& p) { return tg::max(x[0], axis(p), keepdims(p)).first; }},
      {"min", [](const auto& x, const auto&, const json& p) { return tg::min(x[0], axis(p), keepdims(p)).first; }},
      {"max_indices", [](const auto& x, const auto&, const json& p) {
         return mask_values(tg::max(x[0], axis(p), keepdims(p)).second);
       }},
      {"min_indices", [](const auto& x, const auto&, const json& p) {
         return mask_values(tg::min(x[0], axis(p), keepdims(p)).second);
       }},
      {"logsumexp", [](const auto& x, const auto&, const json& p) { return tg::logsumexp(x[0], axis(p), keepdims(p)); }},
      {"cumsum", [](const auto& x, const auto&, const json& p) { return tg::cumsum(x[0], axis(p)); }},
      {"abs", [](const auto& x, const auto&, const json&) { return tg::abs(x[0]); }},
      {"sin", [](const auto& x, const auto&, const json&) { return tg::sin(x[0]); }},
      {"cos", [](const auto& x, const auto&, const json&) { return tg::cos(x[0]); }},
      {"log1p", [](const auto& x, const auto&, const json&) { return tg::log1p(x[0]); }},
      {"gelu", [](const auto& x, const auto&, const json& p) {
         return tg::gelu(x[0], p.value("approximate", "none") == "tanh" ? tg::GeluApproximation::tanh
                                                                         : tg::GeluApproximation::none);
       }},
      {"leaky_relu", [](const auto& x, const auto&, const json& p) { return tg::leaky_relu(x[0], p.value("negative_slope", 0.01)); }},
      {"elu", [](const auto& x, const auto&, const json& p) { return tg::elu(x[0], p.value("alpha", 1.0)); }},
      {"softplus", [](const auto& x, const auto&, const json& p) {
         return tg::softplus(x[0], p.value("beta", 1.0), p.value("threshold", 20.0));
       }},
      {"maximum", [](const auto& x, const auto&, const json&) { return tg::maximum(x[0], x[1]); }},
      {"minimum", [](const auto& x, const auto&, const json&) { return tg::minimum(x[0], x[1]); }},
      {"amax", [](const auto& x, const auto&, const json& p) { return tg::amax(x[0], axis(p), keepdims(p)); }},
      {"amin", [](const auto& x, const auto&, const json& p) { return tg::amin(x[0], axis(p), keepdims(p)); }},
      {"argmax", [](const auto& x, const auto&, const json& p) {
         return mask_values(p.contains("axis") ? tg::argmax(x[0], axis(p), keepdims(p)) : tg::argmax(x[0]));
       }},
      {"argmin", [](const auto& x, const auto&, const json& p) {
         return mask_values(p.contains("axis") ? tg::argmin(x[0], axis(p), keepdims(p)) : tg::argmin(x[0]));
       }},
      {"masked_fill", [](const auto& x, const auto& ids, const json& p) {
         return tg::masked_fill(x[0], ids[0], p.at("value").get<double>());
       }},
      {"gather", [](const auto& x, const auto& ids, const json& p) { return tg::gather(x[0], p.at("axis").get<long>(), ids[0]); }},
      {"index_select", [](const auto& x, const auto& ids, const json& p) {
         return tg::index_select(x[0], p.at("axis").get<long>(), ids[0]);
       }},
      {"matmul", [](const auto& x, const auto&, const json&) { return tg::matmul(x[0], x[1]); }},
      {"permute", [](const auto& x, const auto&, const json& p) {
         return tg::permute(x[0], p.at("dims").get<std::vector<std::size_t>>());
       }},
      {"transpose", [](const auto& x, const auto&, const json& p) {
         return tg::transpose(x[0], p.at("a").get<long>(), p.at("b").get<long>());
       }},
      {"expand", [](const auto& x, const auto&, const json& p) {
         const auto s = p.at("shape").get<std::vector<std::size_t>>();
         return tg::expand(x[0], tg::Shape(s.begin(), s.end()));
       }},
      {"stack", [](const auto& x, const auto&, const json& p) { return tg::stack(x, p.at("axis").get<long>()); }},
      {"unsqueeze", [](const auto& x, const auto&, const json& p) { return tg::unsqueeze(x[0], p.at("axis").get<long>()); }},
      {"squeeze", [](const auto& x, const auto&, const json& p) {
         return p.contains("axis") ? tg::squeeze(x[0], p.at("axis").get<long>()) : tg::squeeze(x[0]);
       }},
      {"flatten", [](const auto& x, const auto&, const json& p) {
         return tg::flatten(x[0], p.at("start").get<long>(), p.at("end").get<long>());
       }},
  };
  return table;
}

const json& fixtures() {
  static const json fx = [] {
    std::ifstream in(std::string(TAPEGRAD_FIXTURES_DIR) + "/ops.json");
    REQUIRE_MESSAGE(in.good(), "missing fixture ops.json");
    return json::parse(in);
  }();
  return fx;
}

}  // namespace

TEST_CASE("op parity: every fixture op is in the table, and every table op has a fixture") {
  std::set<std::string> covered;
  for (const auto& c : fixtures().at("cases")) {
    CHECK_MESSAGE(ops().count(c.at("op").get<std::string>()), "no tapegrad op for fixture " << c.at("name"));
    covered.insert(c.at("op").get<std::string>());
  }
  for (const auto& [name, fn] : ops()) CHECK_MESSAGE(covered.count(name), "no fixture for " << name);
}

TEST_CASE("op parity: outputs and gradients of sum(output * w) match PyTorch in float64") {
  std::size_t checked = 0;
  for (const auto& c : fixtures().at("cases")) {
    const std::string name = c.at("name");
    CAPTURE(name);
    std::vector<Tensor> inputs;
    for (const auto& j : c.at("inputs")) inputs.push_back(Tensor::param(load(j)));
    std::vector<tg::IdTensor> ids;
    for (const auto& j : c.at("ids")) ids.push_back(load_ids(j));
    const Tensor out = ops().at(c.at("op"))(inputs, ids, c.at("params"));
    check_close(name + " output", out.to_xarray<double>(), load(c.at("output")));
    if (c.at("grads").empty() || c.at("grads")[0].is_null()) {  // a mask: PyTorch records no gradient either
      CHECK_FALSE(out.requires_grad());
      ++checked;
      continue;
    }
    tg::sum(out * Tensor::constant(load(c.at("w")))).backward();
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      // No gradient (an input whose output has no elements: Note [empty tensors]) is zeros.
      const xt::xarray<double> grad = inputs[k].has_grad() ? inputs[k].grad().to_xarray<double>()
                                                           : xt::xarray<double>(xt::zeros<double>(inputs[k].shape()));
      check_close(name + " gradient " + std::to_string(k), grad, load(c.at("grads")[k]));
    }
    ++checked;
  }
  CHECK(checked == fixtures().at("cases").size());
  CHECK(checked > 0);
}
