// An LSTM sequence model in a few lines (shown in the README): learn to continue a sine wave,
// 25 blocks of 20 steps per epoch, the hidden state carried from block to block (TBPTT).
//   T block length, B batch, H hidden
#include <cstdio>

#include <xtensor/xview.hpp>

#include <tapegrad/tapegrad.hpp>

int main() {
  using tg::Tensor;
  tg::manual_seed(0);
  const std::size_t T = 20, B = 1, H = 32;
  const xt::xarray<float> wave = xt::sin(xt::linspace<float>(0.0f, 50.0f, 501));  // the stream

  tg::LSTM lstm(1, H);                                // weight_ih_l0 [4H, 1], weight_hh_l0 [4H, H], ...
  tg::Linear head(H, 1);                              // [H] -> next value
  std::vector<tg::Tensor> params = lstm.parameters();
  for (auto& p : head.parameters()) params.push_back(p);
  tg::Adam opt(params, tg::AdamOptions(3e-3));
  tg::TBPTT tbptt(lstm, T);                    // carries (h, c), detached at each block
  for (int epoch = 1; epoch <= 30; ++epoch) {
    tbptt.reset();
    double total = 0;
    for (std::size_t s = 0; s + T < wave.size(); s += T) {
      xt::xarray<float> x = xt::view(wave, xt::range(s, s + T)), y = xt::view(wave, xt::range(s + 1, s + T + 1));
      x.reshape({T, B, 1});                           // time-first [T, B, I]
      y.reshape({T * B, 1});
      Tensor out = tbptt.forward(Tensor::constant(x)).output;                    // [T, B, H]
      Tensor loss = tg::mse(head(tg::reshape(out, {T * B, H})), Tensor::constant(y));
      loss.backward();                                // BPTT through this block only
      tg::clip_grad_norm(params, 1.0);
      opt.step();
      opt.zero_grad();
      total += loss.item();
    }
    if (epoch == 1 || epoch % 10 == 0) std::printf("epoch %d  mean squared error %.5f\n", epoch, total / 25);
  }
}
