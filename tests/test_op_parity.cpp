// Forward and gradient parity of the general ops with PyTorch: tests/fixtures/ops.json, written
// by tests/fixtures/make_op_fixtures.py (python3-torch, run by hand), holds each case's inputs,
// output and the gradients of sum(output * w). tapegrad runs the same op in float64 and must
// match within 1e-10 + 1e-9 |ref|. No Python needed here.
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "test_helpers.hpp"

using tg::Tensor;
using json = nlohmann::json;

namespace {

xt::xarray<double> load(const json& j) {
  tg::Shape shape;
  for (auto d : j.at("shape")) shape.push_back(d.get<std::size_t>());
  xt::xarray<double> a = xt::xarray<double>::from_shape(shape);
  std::size_t i = 0;
  for (auto v : j.at("data")) a.data()[i++] = v.get<double>();
  return a;
}

tg::IdTensor load_ids(const json& j) {
  tg::Shape shape;
  for (auto d : j.at("shape")) shape.push_back(d.get<std::size_t>());
  xt::xarray<std::int64_t> a = xt::xarray<std::int64_t>::from_shape(shape);
  std::size_t i = 0;
  for (auto v : j.at("data")) a.data()[i++] = v.get<std::int64_t>();
  return tg::IdTensor(a);
}

// Within 1e-10 + 1e-9 |ref| everywhere, with the same shape.
void check_close(const std::string& what, const xt::xarray<double>& got, const xt::xarray<double>& want) {
  REQUIRE_MESSAGE(tg::Shape(got.shape()) == tg::Shape(want.shape()),
                  what << ": shape " << tg::to_string(tg::Shape(got.shape())) << ", PyTorch "
                       << tg::to_string(tg::Shape(want.shape())));
  for (std::size_t i = 0; i < want.size(); ++i)
    REQUIRE_MESSAGE(std::abs(got.data()[i] - want.data()[i]) <= 1e-10 + 1e-9 * std::abs(want.data()[i]),
                    what << ": element " << i << " is " << got.data()[i] << ", PyTorch " << want.data()[i]);
}

using Op = std::function<Tensor(const std::vector<Tensor>&, const std::vector<tg::IdTensor>&, const json&)>;

// Each fixture op, called the tapegrad way with the case's arguments.
const std::map<std::string, Op>& ops() {
  static const std::map<std::string, Op> table = {
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
