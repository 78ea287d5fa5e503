// Trains a small MLP to separate two interleaved spirals: the demo that runs until the
// char-level language model lands. A few seconds on one core; prints loss and accuracy.
//   B batch (all N points), D=2 input, H hidden, C=2 classes
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include <tapegrad/tapegrad.hpp>

using tg::Tensor;

namespace {

// N points per class on two spirals, rotated by pi from each other, with a little noise.
void make_spirals(std::size_t n, xt::xarray<float>& points, xt::xarray<int>& labels) {
  points = xt::xarray<float>::from_shape({2 * n, 2});
  labels = xt::xarray<int>::from_shape({2 * n});
  const auto noise = tg::randn<float>({2 * n, 2}, 0.0f, 0.08f);
  for (std::size_t c = 0; c < 2; ++c)
    for (std::size_t i = 0; i < n; ++i) {
      const double r = double(i) / double(n);              // radius grows along the arm
      const double t = 3.5 * M_PI * r + M_PI * double(c);  // 1.75 turns
      const std::size_t row = c * n + i;
      points(row, 0) = float(r * std::cos(t)) + noise(row, 0);
      points(row, 1) = float(r * std::sin(t)) + noise(row, 1);
      labels(row) = int(c);
    }
}

Tensor init(std::size_t out, std::size_t in) {  // PyTorch's Linear init: U(-1/sqrt(in), 1/sqrt(in))
  const float k = 1.0f / std::sqrt(float(in));
  return Tensor::param(tg::uniform<float>({out, in}, -k, k));
}

}  // namespace

int main() {
  tg::manual_seed(7);
  const std::size_t H = 64;
  xt::xarray<float> points;
  xt::xarray<int> labels;
  make_spirals(500, points, labels);
  const Tensor x = Tensor::constant(points);  // [B, 2]
  const tg::IdTensor y = labels;              // [B]
  Tensor W1 = init(H, 2), b1 = Tensor::zeros({H}, tg::kFloat32, true);
  Tensor W2 = init(H, H), b2 = Tensor::zeros({H}, tg::kFloat32, true);
  Tensor W3 = init(2, H), b3 = Tensor::zeros({2}, tg::kFloat32, true);
  std::vector<Tensor> params = {W1, b1, W2, b2, W3, b3};
  std::vector<std::vector<float>> velocity;
  for (auto& p : params) velocity.emplace_back(p.numel(), 0.0f);

  const auto start = std::chrono::steady_clock::now();
  const int steps = 8000;
  const float lr = 0.1f, momentum = 0.9f;
  std::printf("two spirals: %zu points, MLP 2-%zu-%zu-2 (tanh), SGD lr %.2f momentum %.1f\n",
              labels.size(), H, H, lr, momentum);
  for (int step = 1; step <= steps; ++step) {
    Tensor h1 = tg::tanh(tg::linear(x, W1, b1));   // [B, H]
    Tensor h2 = tg::tanh(tg::linear(h1, W2, b2));  // [B, H]
    Tensor logits = tg::linear(h2, W3, b3);        // [B, 2]
    Tensor loss = tg::cross_entropy(logits, y);
    loss.backward();
    for (std::size_t k = 0; k < params.size(); ++k) {  // v = mu v + g; p -= lr v
      float* p = params[k].mutable_data<float>();
      float* g = params[k].grad_data<float>();
      for (std::size_t i = 0; i < params[k].numel(); ++i) {
        velocity[k][i] = momentum * velocity[k][i] + g[i];
        p[i] -= lr * velocity[k][i];
      }
      params[k].zero_grad();
    }
    if (step % 1000 == 0 || step == 1) {
      std::size_t correct = 0;
      for (std::size_t r = 0; r < labels.size(); ++r)
        correct += (logits.value<float>()(r, 1) > logits.value<float>()(r, 0)) == (labels(r) == 1);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("step %4d  loss %.4f  accuracy %5.1f%%  %.1fs\n", step, loss.item(),
                  100.0 * double(correct) / double(labels.size()), secs);
    }
  }
}
