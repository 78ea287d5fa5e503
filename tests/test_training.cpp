// End to end: the ops train real models. The corpus test reads ../shared/data through the
// TAPEGRAD_DATA_DIR cache variable and skips cleanly when it is absent.
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>

#include "test_helpers.hpp"

using tg::Tensor;

namespace {

// One SGD step on every parameter, then zero its gradient.
void sgd(std::vector<Tensor>& params, float lr) {
  for (auto& p : params) {
    float* w = p.mutable_data<float>();
    for (std::size_t i = 0; i < p.numel(); ++i) w[i] -= lr * p.grad_data<float>()[i];
    p.zero_grad();
  }
}

}  // namespace

TEST_CASE("training: a bigram model of tinyshakespeare beats the uniform and unigram baselines") {
  const std::string dir = tgtest::data_dir();
  if (dir.empty()) {
    MESSAGE("skipped: no corpus at TAPEGRAD_DATA_DIR (" TAPEGRAD_DATA_DIR ")");
    return;
  }
  std::ifstream in(dir + "/tinyshakespeare.txt", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.resize(std::min<std::size_t>(text.size(), 20001));
  std::map<char, int> vocab;
  for (char c : text) vocab.emplace(c, 0);
  int next = 0;
  for (auto& kv : vocab) kv.second = next++;
  const std::size_t V = vocab.size(), N = text.size() - 1;
  xt::xarray<int> x = xt::xarray<int>::from_shape({N}), y = xt::xarray<int>::from_shape({N});
  std::vector<double> unigram(V, 0.0);
  for (std::size_t i = 0; i < N; ++i) {
    x(i) = vocab[text[i]];
    y(i) = vocab[text[i + 1]];
    unigram[y(i)] += 1.0 / double(N);
  }
  double unigram_loss = 0;  // the best a model that ignores its input can do
  for (double p : unigram) if (p > 0) unigram_loss -= p * std::log(p);

  tg::manual_seed(0);
  std::vector<Tensor> params = {Tensor::param(tg::randn<float>({V, V}, 0.0f, 0.01f))};  // [V, V] logits table
  float loss = 0;
  for (int step = 0; step < 150; ++step) {
    Tensor l = tg::cross_entropy(tg::embedding(params[0], x), y);  // [N, V] logits
    l.backward();
    sgd(params, 20.0f);
    loss = l.item();
  }
  MESSAGE("bigram loss " << loss << " nats vs unigram " << unigram_loss << " and uniform " << std::log(double(V)));
  CHECK(loss < unigram_loss - 0.3);  // it uses the previous character
}

TEST_CASE("training: an MLP learns XOR") {
  tg::manual_seed(1);
  const Tensor x = Tensor::constant(xt::xarray<float>{{0.f, 0.f}, {0.f, 1.f}, {1.f, 0.f}, {1.f, 1.f}});  // [4, 2]
  xt::xarray<float> targets = {0.f, 1.f, 1.f, 0.f};
  targets.reshape({4, 1});
  const Tensor t = Tensor::constant(targets);  // [4, 1]
  std::vector<Tensor> params = {
      Tensor::param(tg::uniform<float>({8, 2}, -1, 1)), Tensor::zeros({8}, tg::kFloat32, true),
      Tensor::param(tg::uniform<float>({1, 8}, -1, 1)), Tensor::zeros({1}, tg::kFloat32, true)};
  float loss = 1;
  for (int step = 0; step < 2000 && loss > 1e-3f; ++step) {
    Tensor h = tg::tanh(tg::linear(x, params[0], params[1]));      // [4, 8]
    Tensor yhat = tg::sigmoid(tg::linear(h, params[2], params[3]));  // [4, 1]
    Tensor l = tg::mse(yhat, t);
    l.backward();
    sgd(params, 2.0f);
    loss = l.item();
  }
  CHECK(loss < 1e-3f);
}
