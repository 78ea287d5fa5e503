#include "model.hpp"

#include <tapegrad/tapegrad.hpp>

double consumer_gradient_sum() {
  tg::Tensor w = tg::Tensor::param(xt::xarray<double>{{0.5, -0.25}});   // [1, 2]
  tg::Tensor x = tg::Tensor::constant(xt::xarray<double>{{1.0, 2.0}});  // [1, 2]
  tg::sum(tg::tanh(tg::matmul(x, tg::transpose(w)))).backward();
  const tg::Tensor g = w.grad();  // a copy of dL/dw (undefined had backward not reached w)
  return g.value<double>()(0, 0) + g.value<double>()(0, 1);
}
