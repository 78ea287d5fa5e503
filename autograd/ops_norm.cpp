// Normalisation: layer_norm over the last axis (Ba, Kiros & Hinton 2016).
#include <cmath>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {

template <class T>
TensorT<T> layer_norm(const TensorT<T>& x, const TensorT<T>& gamma, const TensorT<T>& beta, double eps) {
  if (x.dim() < 1)
    throw std::invalid_argument("layer_norm: x must be [..., N], got a scalar of shape " + to_string(x.shape()));
  // No rows, or N = 0: an empty result, as in PyTorch; nothing to normalise (and no 0 / 0).
  const std::size_t N = x.shape().back(), rows = N ? x.numel() / N : 0;
  for (const TensorT<T>* p : {&gamma, &beta})
    if (p->defined() && p->shape() != Shape{N})
      throw std::invalid_argument(detail::shapes_message("layer_norm", "gamma and beta must be [N]",
                                                         x.shape(), p->shape()));
  if (!(eps > 0)) throw std::invalid_argument("layer_norm: eps must be positive");
  auto out = detail::new_output<T>("layer_norm", x.shape());
  auto xhat = std::make_shared<Buffer<T>>(rows * N);  // (x - mean) / std, [rows, N]
  auto rstd = std::make_shared<Buffer<T>>(rows);      // 1 / sqrt(var + eps), [rows]
  for (std::size_t r = 0; r < rows; ++r) {
    const T* xr = x.data() + r * N;
    double mean = 0, var = 0;
    for (std::size_t j = 0; j < N; ++j) mean += xr[j];
    mean /= double(N);
    for (std::size_t j = 0; j < N; ++j) var += (xr[j] - mean) * (xr[j] - mean);
    const T rs = T(1.0 / std::sqrt(var / double(N) + eps));  // biased variance, like PyTorch
    rstd->data()[r] = rs;
    for (std::size_t j = 0; j < N; ++j) {
      const T xh = T(xr[j] - mean) * rs;
      xhat->data()[r * N + j] = xh;
      // y = xhat * gamma + beta
      out->value.data()[r * N + j] = (gamma.defined() ? xh * gamma.data()[j] : xh) + (beta.defined() ? beta.data()[j] : T(0));
    }
  }
  auto X = detail::impl_ptr(x), G = detail::impl_ptr(gamma), Bt = detail::impl_ptr(beta);
  return detail::finish<T>("layer_norm", out, {X, G, Bt}, [X, G, Bt, xhat, rstd, rows, N, o = out.get()] {
    const T* dy = o->grad.data();
    std::vector<T> dxhat(N);
    for (std::size_t r = 0; r < rows; ++r) {
      const T* d = dy + r * N;
      const T* xh = xhat->data() + r * N;
      if (G && G->requires_grad)  // dgamma += dy * xhat, summed over rows
        for (std::size_t j = 0; j < N; ++j) G->grad_acc()[j] += d[j] * xh[j];
      if (Bt && Bt->requires_grad)  // dbeta += dy, summed over rows
        detail::add_into(Bt->grad_acc(), d, N);
      if (!X->requires_grad) continue;
      // dxhat = dy * gamma; dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
      double m1 = 0, m2 = 0;
      for (std::size_t j = 0; j < N; ++j) {
        dxhat[j] = G ? d[j] * G->value.data()[j] : d[j];
        m1 += dxhat[j];
        m2 += dxhat[j] * xh[j];
      }
      m1 /= double(N);
      m2 /= double(N);
      T* dx = X->grad_acc() + r * N;
      const T rs = rstd->data()[r];
      for (std::size_t j = 0; j < N; ++j) dx[j] += rs * (dxhat[j] - T(m1) - xh[j] * T(m2));
    }
  });
}

template TensorT<float> layer_norm(const TensorT<float>&, const TensorT<float>&, const TensorT<float>&, double);
template TensorT<double> layer_norm(const TensorT<double>&, const TensorT<double>&, const TensorT<double>&, double);

}  // namespace tg
