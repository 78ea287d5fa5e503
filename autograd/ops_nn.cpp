// Neural-network ops: softmax, log_softmax, embedding, cross_entropy, mse, dropout.
#include <algorithm>
#include <cmath>
#include <limits>

#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/detail/row_sums.hpp>
#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>

namespace tg {
namespace {

// Calls f(base, stride) for every line along the axis: element k of a line is base[k*stride].
template <class F>
void for_each_line(const AxisView& v, F f) {
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t i = 0; i < v.inner; ++i) f(o * v.n * v.inner + i, v.inner);
}

// Lines along the last axis are contiguous rows; they take a vectorised path (one xsimd exp
// over all N*C elements) instead of a scalar exp per element.

// e[r, c] = exp(x[r, c] - max_r) and lse[r] = max_r + log(sum_c e[r, c]), for N rows of C;
// sum[r] = sum_c e[r, c] when asked for.
template <class T>
void exp_rows(std::size_t N, std::size_t C, const T* x, T* e, T* lse, T* sum = nullptr) {
  for (std::size_t r = 0; r < N; ++r) {
    const T* xr = x + r * C;
    const T m = detail::row_max(xr, C);  // subtracting the max keeps exp() from overflowing
    lse[r] = m;
    for (std::size_t c = 0; c < C; ++c) e[r * C + c] = xr[c] - m;
  }
  auto ev = detail::flat(e, N * C);
  xt::noalias(ev) = xt::exp(ev);
  for (std::size_t r = 0; r < N; ++r) {
    const double s = detail::row_sum(e + r * C, C);  // Note [row sums]
    lse[r] += T(std::log(s));
    if (sum) sum[r] = T(s);
  }
}

// y = x - logsumexp(x) along each line (log=true), or y = softmax(x) (log=false).
template <class T>
void softmax_lines(const AxisView& v, const T* x, T* y, bool log) {
  if (v.inner == 1) {  // rows: [outer, n]
    const std::size_t N = v.outer, C = v.n;
    Buffer<T> lse(N), sum(N);
    exp_rows(N, C, x, y, lse.data(), sum.data());  // y = e for now
    for (std::size_t r = 0; r < N; ++r)
      for (std::size_t c = 0; c < C; ++c)
        y[r * C + c] = log ? x[r * C + c] - lse.data()[r] : y[r * C + c] / sum.data()[r];
    return;
  }
  for_each_line(v, [&](std::size_t base, std::size_t stride) {
    T m = -std::numeric_limits<T>::infinity();
    for (std::size_t k = 0; k < v.n; ++k) m = std::max(m, x[base + k * stride]);
    double s = 0;  // subtracting the max keeps exp() from overflowing
    for (std::size_t k = 0; k < v.n; ++k) s += std::exp(double(x[base + k * stride] - m));
    const T lse = m + T(std::log(s));
    for (std::size_t k = 0; k < v.n; ++k) {
      const T z = x[base + k * stride] - lse;
      y[base + k * stride] = log ? z : std::exp(z);
    }
  });
}

template <class T>
Tensor softmax_op(const char* op, const Tensor& x, long axis, bool log) {
  const std::size_t ax = normalize_axis(op, axis, x.dim());
  const AxisView v = axis_view(x.shape(), ax);
  auto out = detail::new_output<T>(op, x.shape());
  // An empty x (no lines, or lines of no elements: [3, 0] has 3 rows and nothing to take the
  // max of) has an empty output, as in PyTorch, and nothing to compute (Note [empty tensors]).
  if (x.numel() != 0) softmax_lines(v, detail::values<T>(x), out->value.template data<T>(), log);
  // the backward reads y only
  return detail::finish<T>(op, out, {detail::impl_ptr(x)}, {detail::kOutput}, [v, log](const detail::Grad<T>& g) {
    const T* y = g.y();
    const T* dy = g.dy();
    T* dx = g.grad_acc(0);
    Buffer<T> p;  // log_softmax: softmax(x) = e^y, one vectorised exp
    if (log) {
      p = Buffer<T>(g.out().value.size());
      xt::noalias(detail::flat(p.data(), p.size())) = xt::exp(detail::flat(y, p.size()));
    }
    for_each_line(v, [&](std::size_t base, std::size_t stride) {
      // softmax:     dx = y (dy - sum_k dy_k y_k)
      // log_softmax: dx = dy - softmax(x) sum_k dy_k, softmax(x) = e^y
      double s = 0;
      for (std::size_t k = 0; k < v.n; ++k)
        s += log ? dy[base + k * stride] : dy[base + k * stride] * y[base + k * stride];
      for (std::size_t k = 0; k < v.n; ++k) {
        const std::size_t e = base + k * stride;
        dx[e] += log ? dy[e] - p.data()[e] * T(s) : y[e] * (dy[e] - T(s));
      }
    });
  });
}

}  // namespace

template <class T>
Tensor softmax_kernel(const Tensor& x, long axis) {
  return softmax_op<T>("softmax", x, axis, false);
}

template <class T>
Tensor log_softmax_kernel(const Tensor& x, long axis) {
  return softmax_op<T>("log_softmax", x, axis, true);
}

template <class T>
Tensor embedding_kernel(const Tensor& weight, const IdTensor& ids) {
  if (weight.dim() != 2)
    throw std::invalid_argument("embedding: weight must be 2-D [V, E], got shape " +
                                to_string(weight.shape()));
  const std::size_t V = weight.shape()[0], E = weight.shape()[1], n = ids.size();
  for (std::size_t r = 0; r < n; ++r)
    if (ids.data()[r] < 0 || std::size_t(ids.data()[r]) >= V)
      throw std::out_of_range("embedding: id " + std::to_string(ids.data()[r]) + " at position " +
                              std::to_string(r) + " is out of range [0, " + std::to_string(V) +
                              ") for weight " + to_string(weight.shape()));
  Shape os = ids.shape();
  os.push_back(E);
  auto out = detail::new_output<T>("embedding", os);
  for (std::size_t r = 0; r < n; ++r)  // out[r, :] = W[id_r, :]
    std::copy_n(detail::values<T>(weight) + ids.data()[r] * E, E, out->value.template data<T>() + r * E);
  // the ids are the node's data; W's value is not read again
  return detail::finish<T>("embedding", out, {detail::impl_ptr(weight)}, {0, 0, std::make_shared<IdTensor>(ids)},
                           [E](const detail::Grad<T>& g) {
    const IdTensor& ids = g.template data<IdTensor>();
    T* dW = g.grad_acc(0);
    for (std::size_t r = 0; r < ids.size(); ++r)  // dW[id_r, :] += dy[r, :]; repeats add up
      detail::add_into(dW + ids.data()[r] * E, g.dy() + r * E, E);
  });
}

namespace {

// What cross_entropy's backward reads, computed by its forward.
template <class T>
struct CrossEntropySaved {
  CrossEntropySaved(const IdTensor& t, std::size_t N, std::size_t C) : targets(t), keep(N, T(1)), p(N * C) {}
  IdTensor targets;
  std::vector<T> keep;  // row weights: 1 for rows in the loss, 0 for masked-out rows
  Buffer<T> p;          // softmax(logits), [N, C]
};

// Mean over the selected rows of -log softmax(logits)[target]; mask == nullptr selects all.
template <class T>
Tensor cross_entropy_rows(const Tensor& logits, const IdTensor& targets, const IdTensor* mask) {
  if (logits.dim() < 1)
    throw std::invalid_argument("cross_entropy: logits must be [..., C], got a scalar");
  const Shape& ls = logits.shape();
  const Shape rows_shape(ls.begin(), ls.end() - 1);
  if (targets.shape() != rows_shape)
    throw std::invalid_argument(detail::shapes_message(
        "cross_entropy", "logits [..., C] need targets [...]", ls, targets.shape()));
  if (mask && mask->shape() != rows_shape)
    throw std::invalid_argument(detail::shapes_message(
        "cross_entropy", "the mask must have the targets' shape", targets.shape(), mask->shape()));
  const std::size_t C = ls.back(), N = numel(rows_shape);
  // PyTorch returns NaN for a mean over no rows; a NaN loss would silently poison every
  // parameter, so tapegrad refuses it, as it refuses a mask that selects nothing.
  if (N == 0 || C == 0)
    throw std::invalid_argument(detail::shapes_message(
        "cross_entropy", N == 0 ? "no rows to average over (empty logits)" : "no classes (C = 0) for the targets",
        ls, targets.shape()));
  // What the backward reads: the targets, the row weights and softmax(logits).
  auto saved = std::make_shared<CrossEntropySaved<T>>(targets, N, C);
  std::vector<T>& keep = saved->keep;  // 1 for rows in the loss, 0 for masked-out rows (padding)
  std::size_t kept = N;
  if (mask) {
    kept = 0;
    for (std::size_t r = 0; r < N; ++r) {
      const std::int64_t m = mask->data()[r];
      if (m != 0 && m != 1)
        throw std::invalid_argument("cross_entropy: mask entries must be 0 or 1, got " + std::to_string(m) +
                                    " at position " + std::to_string(r));
      keep[r] = T(m);
      kept += std::size_t(m);
    }
    if (kept == 0) throw std::invalid_argument("cross_entropy: the mask selects no element; the mean is undefined");
  }
  for (std::size_t r = 0; r < N; ++r)
    if (keep[r] != T(0) && (targets.data()[r] < 0 || std::size_t(targets.data()[r]) >= C))
      throw std::out_of_range("cross_entropy: target " + std::to_string(targets.data()[r]) +
                              " at position " + std::to_string(r) + " is out of range [0, " +
                              std::to_string(C) + ") for logits " + to_string(ls));
  // p = softmax(logits) [N, C], kept for backward; the loss needs only log p[target] = x - lse.
  Buffer<T>& p = saved->p;
  Buffer<T> lse(N), sum(N);
  exp_rows(N, C, detail::values<T>(logits), p.data(), lse.data(), sum.data());
  double loss = 0;
  for (std::size_t r = 0; r < N; ++r) {
    T* pr = p.data() + r * C;
    const T inv = T(1) / sum.data()[r];
    for (std::size_t c = 0; c < C; ++c) pr[c] *= inv;
    if (keep[r] != T(0)) loss -= detail::values<T>(logits)[r * C + targets.data()[r]] - lse.data()[r];
  }
  auto out = detail::new_output<T>("cross_entropy", Shape{});
  out->value.template data<T>()[0] = T(loss / double(kept));  // mean over the kept rows (kept > 0)
  return detail::finish<T>("cross_entropy", out, {detail::impl_ptr(logits)}, {0, 0, std::move(saved)},
                           [kept, N, C](const detail::Grad<T>& g) {
    const CrossEntropySaved<T>& s = g.template data<CrossEntropySaved<T>>();
    // dlogits[r, c] += dy keep_r (p[r, c] - [c == target_r]) / kept
    const T scale = g.dy()[0] / T(kept);
    T* dx = g.grad_acc(0);
    for (std::size_t r = 0; r < N; ++r) {
      if (s.keep[r] == T(0)) continue;
      const T* pr = s.p.data() + r * C;
      for (std::size_t c = 0; c < C; ++c) dx[r * C + c] += scale * pr[c];
      dx[r * C + s.targets.data()[r]] -= scale;
    }
  });
}

}  // namespace

template <class T>
Tensor cross_entropy_kernel(const Tensor& logits, const IdTensor& targets) {
  return cross_entropy_rows<T>(logits, targets, nullptr);
}

template <class T>
Tensor cross_entropy_kernel(const Tensor& logits, const IdTensor& targets, const IdTensor& mask) {
  return cross_entropy_rows<T>(logits, targets, &mask);
}

template <class T>
Tensor mse_kernel(const Tensor& prediction, const Tensor& target) {
  if (prediction.shape() != target.shape())
    throw std::invalid_argument(detail::shapes_message(
        "mse", "prediction and target must have the same shape", prediction.shape(), target.shape()));
  const std::size_t n = prediction.numel();
  if (n == 0) throw std::invalid_argument("mse: empty tensors of shape " + to_string(prediction.shape()));
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = double(detail::values<T>(prediction)[i]) - double(detail::values<T>(target)[i]);
    s += d * d;
  }
  auto out = detail::new_output<T>("mse", Shape{});
  out->value.template data<T>()[0] = T(s / double(n));
  // both gradients read p - t
  return detail::finish<T>("mse", out, {detail::impl_ptr(prediction), detail::impl_ptr(target)},
                           {detail::input_bit(0) | detail::input_bit(1)}, [n](const detail::Grad<T>& g) {
    // L = mean (p - t)^2: dp = 2 (p - t) dL / n, dt = -dp
    const T scale = T(2) * g.dy()[0] / T(n);
    T* dp = g.needs(0) ? g.grad_acc(0) : nullptr;
    T* dt = g.needs(1) ? g.grad_acc(1) : nullptr;
    const T* p = g.x(0);
    const T* t = g.x(1);
    for (std::size_t i = 0; i < n; ++i) {
      const T d = scale * (p[i] - t[i]);
      if (dp) dp[i] += d;
      if (dt) dt[i] -= d;
    }
  });
}

template <class T>
Tensor dropout_kernel(const Tensor& x, double p, bool train) {
  if (!(p >= 0.0 && p <= 1.0))
    throw std::invalid_argument("dropout: the probability p must be in [0, 1], got " + std::to_string(p));
  if (!train || p == 0.0) return x;
  const std::size_t n = x.numel();
  // mask[i] = 1/(1-p) with probability 1-p, else 0 (all zeros when p = 1)
  auto mask = std::make_shared<Buffer<T>>(n);  // the node's data
  fill_uniform01(mask->data(), n);
  const T keep_scale = p < 1.0 ? T(1.0 / (1.0 - p)) : T(0);
  for (std::size_t i = 0; i < n; ++i) mask->data()[i] = mask->data()[i] >= T(p) ? keep_scale : T(0);
  auto out = detail::new_output<T>("dropout", x.shape());
  for (std::size_t i = 0; i < n; ++i) out->value.template data<T>()[i] = detail::values<T>(x)[i] * mask->data()[i];
  return detail::finish<T>("dropout", out, {detail::impl_ptr(x)}, {0, 0, std::move(mask)}, [n](const detail::Grad<T>& g) {
    const T* m = g.template data<Buffer<T>>().data();
    const T* dy = g.dy();
    T* dx = g.grad_acc(0);
    for (std::size_t i = 0; i < n; ++i) dx[i] += dy[i] * m[i];  // dx = dy mask
  });
}

// ===== the public ops: each runs its kernel for its tensors' dtype =====

Tensor softmax(const Tensor& x, long axis) {
  return detail::dispatch("softmax", {&x}, [&](auto t) { return softmax_kernel<decltype(t)>(x, axis); });
}

Tensor log_softmax(const Tensor& x, long axis) {
  return detail::dispatch("log_softmax", {&x}, [&](auto t) { return log_softmax_kernel<decltype(t)>(x, axis); });
}

Tensor embedding(const Tensor& weight, const IdTensor& ids) {
  return detail::dispatch("embedding", {&weight}, [&](auto t) { return embedding_kernel<decltype(t)>(weight, ids); });
}

Tensor cross_entropy(const Tensor& logits, const IdTensor& targets) {
  return detail::dispatch("cross_entropy", {&logits}, [&](auto t) { return cross_entropy_kernel<decltype(t)>(logits, targets); });
}

Tensor cross_entropy(const Tensor& logits, const IdTensor& targets, const IdTensor& mask) {
  return detail::dispatch("cross_entropy", {&logits}, [&](auto t) { return cross_entropy_kernel<decltype(t)>(logits, targets, mask); });
}

Tensor mse(const Tensor& prediction, const Tensor& target) {
  return detail::dispatch("mse", {&prediction, &target}, [&](auto t) { return mse_kernel<decltype(t)>(prediction, target); });
}

Tensor dropout(const Tensor& x, double p, bool train) {
  return detail::dispatch("dropout", {&x}, [&](auto t) { return dropout_kernel<decltype(t)>(x, p, train); });
}

}  // namespace tg
