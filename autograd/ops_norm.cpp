// Normalisation: layer_norm over the last axis (Ba, Kiros & Hinton 2016).
#include <algorithm>
#include <cmath>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/detail/row_sums.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

// What layer_norm's backward reads besides x and gamma: each row's mean (in two parts) and
// 1 / std. xhat is computed again from x in the backward instead of stored by the forward: the
// forward then writes one array instead of two, and the tape keeps x until the backward (where
// x would otherwise go back to the pool at once, Note [unread values]) instead of an xhat of
// the same size. Saving x also means that writing into x in place between the forward and the
// backward is refused (Note [versions]), as in PyTorch, whose layer_norm saves its input too.
template <class T>
struct RowStats {
  explicit RowStats(std::size_t rows) : mean(rows), mean_low(rows), rstd(rows) {}
  // x - mean in T without losing the mean's low bits: mean is the mean rounded to T and mean_low
  // what that rounding dropped (a row of mean 1e3 and std 1 would otherwise be off by ~6e-5
  // everywhere)
  Buffer<T> mean, mean_low;  // [rows]
  Buffer<T> rstd;            // 1 / sqrt(var + eps), [rows]
};

// One element of xhat = (x - mean) / std, from the mean in its two parts (RowStats). The forward
// and both backward paths call this one expression, so the backward's xhat has the forward's
// bits.
template <class T>
T normalized(T x, T m, T m_low, T rs) {
  return ((x - m) - m_low) * rs;
}

// The mean and the biased variance (as PyTorch's) of one row, in one pass of lane sums (Note
// [row sums]): the sums S1 of (x - k) and S2 of (x - k)^2 in double, shifted by the row's first
// element k. Since k is in the row, (mean - k)^2 <= (N - 1) var, so S2 / N - (S1 / N)^2 loses at
// most a factor N to cancellation however far the mean is from 0 (unshifted, a float64 row of
// mean 1e8 and std 1 would lose every digit).
template <class T>
void row_moments(const T* x, std::size_t N, double& mean, double& var) {
  const double k = double(x[0]);
  double s1 = 0, s2 = 0;
  detail::row_sum_and_square(x, k, N, s1, s2);
  const double d = s1 / double(N);  // mean - k
  mean = k + d;
  var = s2 / double(N) - d * d;
  if (var < 0) var = 0;  // rounding; a NaN stays NaN
  // A float64 row whose spread is beyond ~1e154 overflows S2: its variance is infinite (1 / std
  // then 0, as the two-pass form gave), not Inf - Inf = NaN
  if (std::isinf(s2) && std::isfinite(s1)) var = HUGE_VAL;
}

// The training case of the backward's first pass over one row of N, in one loop: xhat again
// from x, dgamma += dy xhat and dbeta += dy (summed over rows), dxhat = dy gamma. A function of
// its own so that the restrict-qualified parameters let the compiler vectorise the loop.
template <class T>
void backward_row_pass(std::size_t N, const T* __restrict x, T m, T m_low, T rs, const T* __restrict dy,
                       const T* __restrict gamma, T* __restrict xhat, T* __restrict dxhat,
                       T* __restrict dgamma, T* __restrict dbeta) {
  for (std::size_t j = 0; j < N; ++j) {
    xhat[j] = normalized(x[j], m, m_low, rs);
    dgamma[j] += dy[j] * xhat[j];
    dbeta[j] += dy[j];
    dxhat[j] = dy[j] * gamma[j];
  }
}

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
  auto stats = std::make_shared<RowStats<T>>(rows);
  const T* gw = gamma.defined() ? detail::values<T>(gamma) : nullptr;  // [N] or absent
  const T* bw = beta.defined() ? detail::values<T>(beta) : nullptr;    // [N] or absent
  for (std::size_t r = 0; r < rows; ++r) {
    const T* xr = detail::values<T>(x) + r * N;
    double mean = 0, var = 0;
    row_moments(xr, N, mean, var);
    const T m = T(mean), m_low = T(mean - double(m)), rs = T(1.0 / std::sqrt(var + eps));
    stats->mean.data()[r] = m;
    stats->mean_low.data()[r] = m_low;
    stats->rstd.data()[r] = rs;
    T* y = out->value.template data<T>() + r * N;
    auto xhat = [&](std::size_t j) { return normalized(xr[j], m, m_low, rs); };
    // y = xhat * gamma + beta
    if (gw && bw) for (std::size_t j = 0; j < N; ++j) y[j] = xhat(j) * gw[j] + bw[j];
    else if (gw)  for (std::size_t j = 0; j < N; ++j) y[j] = xhat(j) * gw[j];
    else if (bw)  for (std::size_t j = 0; j < N; ++j) y[j] = xhat(j) + bw[j];
    else          for (std::size_t j = 0; j < N; ++j) y[j] = xhat(j);
  }
  // xhat (for dgamma and dx) is computed again from x; dx also reads gamma
  const bool gamma_grad = gamma.defined() && gamma.requires_grad();
  const detail::TensorSet saves = (x.requires_grad() || gamma_grad ? detail::input_bit(0) : 0) |
                                  (x.requires_grad() ? detail::input_bit(1) : 0);
  return detail::finish<T>("layer_norm", out, {detail::impl_ptr(x), detail::impl_ptr(gamma), detail::impl_ptr(beta)},
                           {saves, 0, std::move(stats)}, [rows, N](const detail::Grad<T>& g) {
    const RowStats<T>& stats = g.template data<RowStats<T>>();
    const T* dy = g.dy();
    const T* x = g.needs(0) || g.needs(1) ? g.x(0) : nullptr;          // [rows, N]
    const T* gamma = g.needs(0) && g.defined(1) ? g.x(1) : nullptr;  // [N], saved for dx only
    T* dgamma = g.needs(1) ? g.grad_acc(1) : nullptr;  // [N]
    T* dbeta = g.needs(2) ? g.grad_acc(2) : nullptr;   // [N]
    bool fresh = false;  // a new dx is assigned, not zeroed and added to (Note [first write assigns])
    T* dx_all = g.needs(0) ? g.grad_for_overwrite(0, fresh) : nullptr;  // [rows, N]
    std::vector<T> xhat(x ? N : 0), dxhat(dx_all ? N : 0);  // one row of each
    T* xh = xhat.data();
    T* dxh = dxhat.data();
    for (std::size_t r = 0; r < rows; ++r) {
      const T* d = dy + r * N;
      const T* xr = x ? x + r * N : nullptr;
      const T m = stats.mean.data()[r], m_low = stats.mean_low.data()[r], rs = stats.rstd.data()[r];
      // xhat again, dgamma += dy xhat and dbeta += dy (summed over rows), dxhat = dy gamma
      // training: all in one pass over the row (when gamma and beta are one tensor, their
      // gradients are one buffer, which the one pass may not write twice)
      if (xr && dgamma && dbeta && dgamma != dbeta && dx_all && gamma) {
        backward_row_pass(N, xr, m, m_low, rs, d, gamma, xh, dxh, dgamma, dbeta);
      } else {
        if (xr) for (std::size_t j = 0; j < N; ++j) xh[j] = normalized(xr[j], m, m_low, rs);
        if (dgamma) for (std::size_t j = 0; j < N; ++j) dgamma[j] += d[j] * xh[j];
        if (dbeta) detail::add_into(dbeta, d, N);
        if (dx_all && gamma) for (std::size_t j = 0; j < N; ++j) dxh[j] = d[j] * gamma[j];
        else if (dx_all) std::copy_n(d, N, dxh);
      }
      if (!dx_all) continue;
      // dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), both means in one pass over the
      // row (Note [row sums])
      double sum = 0, dot = 0;
      detail::row_sum_and_dot(dxh, xh, N, sum, dot);
      const T m1 = T(sum / double(N)), m2 = T(dot / double(N));
      T* dx = dx_all + r * N;
      if (fresh) for (std::size_t j = 0; j < N; ++j) dx[j] = rs * (dxh[j] - m1 - xh[j] * m2);
      else       for (std::size_t j = 0; j < N; ++j) dx[j] += rs * (dxh[j] - m1 - xh[j] * m2);
    }
  });
}

// ===== the public ops: each runs its kernel for its tensors' dtype =====

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  return detail::dispatch("layer_norm", {&x, &gamma, &beta}, [&](auto t) { return layer_norm_kernel<decltype(t)>(x, gamma, beta, eps); });
}

}  // namespace tg
