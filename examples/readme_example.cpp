// The op API in 20 lines: the example on the README's first screen (its output is shown there).
#include <cstdio>

#include <tapegrad/tapegrad.hpp>

int main() {
  using tg::Tensor;
  tg::manual_seed(0);
  Tensor W = Tensor::param(tg::randn<float>({3, 4}, 0.0f, 0.5f));  // [H=3, I=4], a leaf
  Tensor b = Tensor::param(xt::zeros<float>({3}));                  // [H]
  Tensor spare = Tensor::param(xt::ones<float>({3}));               // [H], a leaf the loss never uses
  Tensor x = Tensor::constant(tg::randn<float>({2, 4}));            // [B=2, I] data
  tg::IdTensor y = {0, 2};                                          // class ids, [B]
  for (int step = 0; step < 3; ++step) {
    Tensor h = tg::tanh(tg::linear(x, W, b));  // x W^T + b, the bias broadcasts: [B, H]
    Tensor loss = tg::cross_entropy(h, y);     // mean over B, a scalar
    loss.backward();                           // one reverse sweep; grads accumulate in W, b
    Tensor db = b.grad();                      // a copy of dL/db
    std::printf("step %d  loss %.4f  dL/db = [%.4f %.4f %.4f]  spare.grad() %s\n", step, loss.item(),
                db.value<float>()(0), db.value<float>()(1), db.value<float>()(2),
                spare.grad().defined() ? "defined" : "undefined");  // backward never reached it
    for (Tensor p : {W, b, spare}) {  // plain SGD, lr 0.5, on the leaves that have a gradient
      if (!p.has_grad()) continue;
      float* w = p.mutable_data<float>();  // an in-place write: bumps p's version
      for (std::size_t i = 0; i < p.numel(); ++i) w[i] -= 0.5f * p.grad_data<float>()[i];
      p.zero_grad(true);  // set to none: undefined until a backward reaches p again
    }
  }
}
