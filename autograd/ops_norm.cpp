// Normalisation: layer_norm over the last axis (Ba, Kiros & Hinton 2016).
#include <algorithm>
#include <cmath>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/detail/row_sums.hpp>
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

// Row sums in double, in lanes: Note [row sums] (detail/row_sums.hpp).
using detail::row_sum_and_dot;
using detail::row_squared_deviation;
using detail::row_sum;

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
  const T* gw = gamma.defined() ? detail::values<T>(gamma) : nullptr;  // [N] or absent
  const T* bw = beta.defined() ? detail::values<T>(beta) : nullptr;    // [N] or absent
  for (std::size_t r = 0; r < rows; ++r) {
    const T* xr = detail::values<T>(x) + r * N;
    const double mean = row_sum(xr, N) / double(N);
    const double var = row_squared_deviation(xr, N, mean) / double(N);  // biased, like PyTorch
    const T rs = T(1.0 / std::sqrt(var + eps));
    saved->rstd.data()[r] = rs;
    T* xh = saved->xhat.data() + r * N;
    T* y = out->value.template data<T>() + r * N;
    // x - mean in float without losing the mean's low bits: m is the mean rounded to T and
    // m_low what that rounding dropped (a row of mean 1e3 and std 1 would otherwise be off by
    // ~6e-5 everywhere).
    const T m = T(mean), m_low = T(mean - double(m));
    auto xhat = [&](std::size_t j) { return xh[j] = ((xr[j] - m) - m_low) * rs; };  // stores xhat too
    // y = xhat * gamma + beta, in the pass that writes xhat
    if (gw && bw) for (std::size_t j = 0; j < N; ++j) y[j] = xhat(j) * gw[j] + bw[j];
    else if (gw)  for (std::size_t j = 0; j < N; ++j) y[j] = xhat(j) * gw[j];
    else if (bw)  for (std::size_t j = 0; j < N; ++j) y[j] = xhat(j) + bw[j];
    else          for (std::size_t j = 0; j < N; ++j) y[j] = xhat(j);
  }
  // dx reads gamma; x itself is not read again (xhat and rstd are the node's data)
  const detail::TensorSet saves = x.requires_grad() ? detail::input_bit(1) : 0;
  return detail::finish<T>("layer_norm", out, {detail::impl_ptr(x), detail::impl_ptr(gamma), detail::impl_ptr(beta)},
                           {saves, 0, std::move(saved)}, [rows, N](const detail::Grad<T>& g) {
    const Normalized<T>& saved = g.template data<Normalized<T>>();
    const T* dy = g.dy();
    const T* gamma = g.needs(0) && g.defined(1) ? g.x(1) : nullptr;  // saved for dx only
    T* dgamma = g.needs(1) ? g.grad_acc(1) : nullptr;  // [N]
    T* dbeta = g.needs(2) ? g.grad_acc(2) : nullptr;   // [N]
    bool fresh = false;  // a new dx is assigned, not zeroed and added to (Note [first write assigns])
    T* dx_all = g.needs(0) ? g.grad_for_overwrite(0, fresh) : nullptr;  // [rows, N]
    std::vector<T> dxhat(N);
    for (std::size_t r = 0; r < rows; ++r) {
      const T* d = dy + r * N;
      const T* xh = saved.xhat.data() + r * N;
      if (dgamma && dbeta) {  // dgamma += dy * xhat and dbeta += dy, summed over rows, in one pass
        for (std::size_t j = 0; j < N; ++j) {
          dgamma[j] += d[j] * xh[j];
          dbeta[j] += d[j];
        }
      } else if (dgamma) {
        for (std::size_t j = 0; j < N; ++j) dgamma[j] += d[j] * xh[j];
      } else if (dbeta) {
        detail::add_into(dbeta, d, N);
      }
      if (!dx_all) continue;
      // dxhat = dy * gamma; dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), both means
      // in one pass over the row (Note [row sums])
      if (gamma) for (std::size_t j = 0; j < N; ++j) dxhat[j] = d[j] * gamma[j];
      else std::copy_n(d, N, dxhat.data());
      double sum = 0, dot = 0;
      row_sum_and_dot(dxhat.data(), xh, N, sum, dot);
      const T m1 = T(sum / double(N)), m2 = T(dot / double(N));
      T* dx = dx_all + r * N;
      const T rs = saved.rstd.data()[r];
      if (fresh) for (std::size_t j = 0; j < N; ++j) dx[j] = rs * (dxhat[j] - m1 - xh[j] * m2);
      else       for (std::size_t j = 0; j < N; ++j) dx[j] += rs * (dxhat[j] - m1 - xh[j] * m2);
    }
  });
}

// ===== the public ops: each runs its kernel for its tensors' dtype =====

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  return detail::dispatch("layer_norm", {&x, &gamma, &beta}, [&](auto t) { return layer_norm_kernel<decltype(t)>(x, gamma, beta, eps); });
}

}  // namespace tg
