// Normalisation: layer_norm over the last axis (Ba, Kiros & Hinton 2016).
#include <cmath>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

// What layer_norm's backward reads, computed by its forward.
template <class T>
struct Normalized {
  Normalized(std::size_t rows, std::size_t N) : xhat(rows * N), rstd(rows) {}
  Buffer<T> xhat;  // (x - mean) / std, [rows, N]
  Buffer<T> rstd;  // 1 / sqrt(var + eps), [rows]
};

}  // namespace

template <class T>
Tensor layer_norm_kernel(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  if (x.dim() < 1)
    throw std::invalid_argument("layer_norm: x must be [..., N], got a scalar of shape " + to_string(x.shape()));
  // No rows, or N = 0: an empty result, as in PyTorch; nothing to normalise (and no 0 / 0).
  const std::size_t N = x.shape().back(), rows = N ? x.numel() / N : 0;
  for (const Tensor* p : {&gamma, &beta})
    if (p->defined() && p->shape() != Shape{N})
      throw std::invalid_argument(detail::shapes_message("layer_norm", "gamma and beta must be [N]",
                                                         x.shape(), p->shape()));
  if (!(eps > 0)) throw std::invalid_argument("layer_norm: eps must be positive");
  auto out = detail::new_output<T>("layer_norm", x.shape());
  auto saved = std::make_shared<Normalized<T>>(rows, N);
  for (std::size_t r = 0; r < rows; ++r) {
    const T* xr = detail::values<T>(x) + r * N;
    double mean = 0, var = 0;
    for (std::size_t j = 0; j < N; ++j) mean += xr[j];
    mean /= double(N);
    for (std::size_t j = 0; j < N; ++j) var += (xr[j] - mean) * (xr[j] - mean);
    const T rs = T(1.0 / std::sqrt(var / double(N) + eps));  // biased variance, like PyTorch
    saved->rstd.data()[r] = rs;
    for (std::size_t j = 0; j < N; ++j) {
      const T xh = T(xr[j] - mean) * rs;
      saved->xhat.data()[r * N + j] = xh;
      // y = xhat * gamma + beta
      out->value.template data<T>()[r * N + j] = (gamma.defined() ? xh * detail::values<T>(gamma)[j] : xh) + (beta.defined() ? detail::values<T>(beta)[j] : T(0));
    }
  }
  // dx reads gamma; x itself is not read again (xhat and rstd are the node's data)
  const detail::TensorSet saves = x.requires_grad() ? detail::input_bit(1) : 0;
  return detail::finish<T>("layer_norm", out, {detail::impl_ptr(x), detail::impl_ptr(gamma), detail::impl_ptr(beta)},
                           {saves, 0, std::move(saved)}, [rows, N](const detail::Grad<T>& g) {
    const Normalized<T>& saved = g.template data<Normalized<T>>();
    const T* dy = g.dy();
    const T* gamma = g.defined(1) ? g.x(1) : nullptr;
    std::vector<T> dxhat(N);
    for (std::size_t r = 0; r < rows; ++r) {
      const T* d = dy + r * N;
      const T* xh = saved.xhat.data() + r * N;
      if (g.needs(1))  // dgamma += dy * xhat, summed over rows
        for (std::size_t j = 0; j < N; ++j) g.grad_acc(1)[j] += d[j] * xh[j];
      if (g.needs(2))  // dbeta += dy, summed over rows
        detail::add_into(g.grad_acc(2), d, N);
      if (!g.needs(0)) continue;
      // dxhat = dy * gamma; dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
      double m1 = 0, m2 = 0;
      for (std::size_t j = 0; j < N; ++j) {
        dxhat[j] = gamma ? d[j] * gamma[j] : d[j];
        m1 += dxhat[j];
        m2 += dxhat[j] * xh[j];
      }
      m1 /= double(N);
      m2 /= double(N);
      T* dx = g.grad_acc(0) + r * N;
      const T rs = saved.rstd.data()[r];
      for (std::size_t j = 0; j < N; ++j) dx[j] += rs * (dxhat[j] - T(m1) - xh[j] * T(m2));
    }
  });
}

// ===== the public ops: each runs its kernel for its tensors' dtype =====

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  return detail::dispatch("layer_norm", {&x, &gamma, &beta}, [&](auto t) { return layer_norm_kernel<decltype(t)>(x, gamma, beta, eps); });
}

}  // namespace tg
