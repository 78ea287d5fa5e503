#include "model.hpp"

#include <tapegrad/tapegrad.hpp>

double consumer_gradient_sum() {
  using tg::TensorD;
  TensorD w = TensorD::param({{0.5, -0.25}});   // [1, 2]
  TensorD x = TensorD::constant({{1.0, 2.0}});  // [1, 2]
  tg::sum(tg::tanh(tg::matmul(x, tg::transpose(w)))).backward();
  const TensorD g = w.grad();  // a copy of dL/dw (undefined had backward not reached w)
  return g.value()(0, 0) + g.value()(0, 1);
}
