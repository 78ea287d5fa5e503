// Parity with PyTorch: fixtures written by tests/fixtures/make_rnn_fixtures.py (python3-torch,
// run by hand) hold weights under PyTorch's names, inputs, outputs and gradients; tapegrad in
// float32 must match within 1e-5 + 1e-4 * |ref| (DESIGN §8). No Python needed here.
#include <fstream>

#include <nlohmann/json.hpp>

#include "fixture_json.hpp"
#include "test_helpers.hpp"

using tg::Tensor;
using json = nlohmann::json;

namespace {

xt::xarray<float> load(const json& j) { return tgtest::load_array<float>(j); }

// max over elements of |a - b| / (1e-5 + 1e-4 |b|): parity holds when it is <= 1.
double worst(const xt::xarray<float>& a, const xt::xarray<float>& b, double& max_abs) {
  REQUIRE(a.shape() == b.shape());
  double w = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double(a.data()[i]) - double(b.data()[i]));
    max_abs = std::max(max_abs, d);
    w = std::max(w, d / (1e-5 + 1e-4 * std::abs(double(b.data()[i]))));
  }
  return w;
}

void check_fixture(const std::string& name) {
  std::ifstream in(std::string(TAPEGRAD_FIXTURES_DIR) + "/" + name + ".json");
  REQUIRE_MESSAGE(in.good(), "missing fixture " << name);
  const json fx = json::parse(in);
  const std::string cell = fx["cell"];
  const std::size_t I = fx["input_size"], H = fx["hidden_size"], T = fx["steps"], B = fx["batch"];
  const std::size_t layers = fx["num_layers"];
  const bool bidirectional = fx["bidirectional"];
  std::unique_ptr<tg::Recurrent> layer;
  if (cell == "rnn") layer = std::make_unique<tg::RNN>(tg::RNNOptions(I, H).num_layers(layers).bidirectional(bidirectional));
  else if (cell == "lstm")
    layer = std::make_unique<tg::LSTM>(tg::LSTMOptions(I, H).num_layers(layers).bidirectional(bidirectional));
  else layer = std::make_unique<tg::GRU>(tg::GRUOptions(I, H).num_layers(layers).bidirectional(bidirectional));
  // Weights by PyTorch name: every name on both sides.
  REQUIRE(layer->named_parameters().size() == fx["params"].size());
  for (auto& [pname, p] : layer->named_parameters()) {
    REQUIRE_MESSAGE(fx["params"].contains(pname), "PyTorch has no parameter " << pname);
    const auto v = load(fx["params"][pname]);
    REQUIRE(tg::Shape(v.shape()) == p.shape());
    std::copy(v.begin(), v.end(), p.mutable_data<float>());
  }
  const Tensor x = Tensor::param(load(fx["x"]));
  const bool lstm = cell == "lstm";
  const auto h0 = load(fx["h0"]);
  const xt::xarray<float> c0 = lstm ? load(fx["c0"]) : xt::xarray<float>();
  std::vector<tg::State> init;
  for (std::size_t k = 0; k < h0.shape()[0]; ++k) {
    tg::State s = {Tensor::param(xt::view(h0, k))};
    if (lstm) s.push_back(Tensor::param(xt::view(c0, k)));
    init.push_back(s);
  }
  std::unique_ptr<tg::SequenceMask> mask;
  if (!fx["lengths"].is_null()) mask = std::make_unique<tg::SequenceMask>(fx["lengths"].get<std::vector<std::size_t>>(), T);
  const auto out = mask ? layer->forward(x, init, *mask) : layer->forward(x, init);
  const Tensor h_n = out.h_n();
  Tensor loss = tg::sum(out.output * Tensor::constant(load(fx["w_out"]))) + tg::sum(h_n * Tensor::constant(load(fx["w_h"])));
  if (lstm) loss = loss + tg::sum(out.c_n() * Tensor::constant(load(fx["w_c"])));
  loss.backward();

  double max_abs = 0, w = 0;
  w = std::max(w, worst(out.output.to_xarray<float>(), load(fx["output"]), max_abs));
  w = std::max(w, worst(h_n.to_xarray<float>(), load(fx["h_n"]), max_abs));
  if (lstm) w = std::max(w, worst(out.c_n().to_xarray<float>(), load(fx["c_n"]), max_abs));
  w = std::max(w, worst(x.grad().value<float>(), load(fx["grad_x"]), max_abs));
  const auto gh0 = load(fx["grad_h0"]);
  const xt::xarray<float> gc0 = lstm ? load(fx["grad_c0"]) : xt::xarray<float>();
  for (std::size_t k = 0; k < init.size(); ++k) {
    w = std::max(w, worst(init[k][0].grad().value<float>(), xt::view(gh0, k), max_abs));
    if (lstm) w = std::max(w, worst(init[k][1].grad().value<float>(), xt::view(gc0, k), max_abs));
  }
  for (auto& [pname, p] : layer->named_parameters()) w = std::max(w, worst(p.grad().value<float>(), load(fx["grads"][pname]), max_abs));
  MESSAGE(name << " (" << B << " streams): max |tapegrad - PyTorch| = " << max_abs << ", worst error / tolerance = " << w);
  CHECK(w <= 1.0);
}

}  // namespace

TEST_CASE("parity with PyTorch: RNN 2 layers") { check_fixture("rnn_2layer"); }
TEST_CASE("parity with PyTorch: RNN 2 layers bidirectional") { check_fixture("rnn_2layer_bidir"); }
TEST_CASE("parity with PyTorch: LSTM 2 layers") { check_fixture("lstm_2layer"); }
TEST_CASE("parity with PyTorch: LSTM 2 layers bidirectional") { check_fixture("lstm_2layer_bidir"); }
TEST_CASE("parity with PyTorch: GRU 2 layers") { check_fixture("gru_2layer"); }
TEST_CASE("parity with PyTorch: GRU 2 layers bidirectional") { check_fixture("gru_2layer_bidir"); }
TEST_CASE("parity with PyTorch: LSTM 2 layers bidirectional, masked batch") { check_fixture("lstm_2layer_bidir_masked"); }
TEST_CASE("parity with PyTorch: GRU 2 layers, masked batch") { check_fixture("gru_2layer_masked"); }
