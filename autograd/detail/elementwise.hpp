#pragma once
// The machinery of the elementwise ops (internal to tapegrad's op files): a unary op from its
// value and derivative as xtensor expressions, the forward of a broadcasting binary op, and the
// backward that sums a broadcast gradient back to an input's shape.
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/detail/thread_pool.hpp>

namespace tg::detail {

// in.grad += sum_to(f(dy, other), in.shape): f is evaluated at the broadcast shape os.
template <class T, class F>
void backprop_binary(TensorImpl& in, const T* dy, const Shape& os, const T* other,
                     const Shape& other_shape, F f) {
  const std::size_t n = numel(os);
  if (in.shape == os && other_shape == os) {
    bool fresh;  // Note [first write assigns]
    T* g = in.template grad_for_overwrite<T>(fresh);
    parallel_range(n, [&](std::size_t begin, std::size_t end) {
      if (fresh) for (std::size_t i = begin; i < end; ++i) g[i] = f(dy[i], other[i]);
      else for (std::size_t i = begin; i < end; ++i) g[i] += f(dy[i], other[i]);
    });
    return;
  }
  Buffer<T> tmp(n);
  broadcast_binary(os, dy, os, other, other_shape, tmp.data(), f);
  accumulate_sum_to(in.template grad_acc<T>(), in.shape, tmp.data(), os);
}

// The forward half shared by the four binary ops.
template <class T, class F>
std::shared_ptr<TensorImpl> binary_forward(const char* op, const Tensor& a,
                                              const Tensor& b, F f) {
  const Shape os = broadcast_shapes(op, a.shape(), b.shape());
  auto out = new_output<T>(op, os);
  broadcast_binary(os, values<T>(a), a.shape(), values<T>(b), b.shape(), out->value.template data<T>(), f);
  return out;
}

// What a unary op's derivative reads, besides dy: nothing, x, y = f(x), or both.
enum class Reads { none, x, y, both };

inline TensorSet saved_by(Reads r) {
  switch (r) {
    case Reads::none: return 0;
    case Reads::x: return input_bit(0);
    case Reads::y: return kOutput;
    case Reads::both: return input_bit(0) | kOutput;
  }
  return 0;  // unreachable: every enumerator returns above
}

// The cost of an elementwise expression per element, for where it is worth cutting into chunks
// for the pool (parallel_range): transcendental math (exp, tanh, log, sin, erf) runs at
// ~1.2-1.9 ns per float on this project's Zen 1 core, ~4x an add or a multiply. Measured with
// tapegrad_bench --threads 2 (3 pairs): cutting the forward of tanh, sigmoid and friends from
// 4,096 elements made S LSTM 1-4% and S RNN 2.5-4.5% faster; the cheap ops stay whole below
// 16,384 (cutting them there too made S LSTM 2-3% slower).
enum class Cost : std::size_t { cheap = 1, transcendental = 4 };

// A unary op from its value f(x) and its derivative df(dy, x, y) (both xtensor expressions
// over flat views, so xsimd vectorises them). Lambdas take their views by const reference:
// the expressions they return refer to them. `reads` says which of x and y df uses, so only
// those are checked for in-place writes (Note [versions]). `forward` and `backward` are what
// f and df cost per element.
template <class T, class F, class DF>
Tensor unary(const char* op, const Tensor& x, Reads reads, F f, DF df, Cost forward = Cost::cheap,
             Cost backward = Cost::cheap) {
  const std::size_t n = x.numel();
  auto out = new_output<T>(op, x.shape());
  const T* x_data = values<T>(x);
  T* y_data = out->value.template data<T>();
  parallel_range(n, [&](std::size_t begin, std::size_t end) {
    auto xv = flat(x_data + begin, end - begin);
    auto yv = flat(y_data + begin, end - begin);
    xt::noalias(yv) = f(xv);
  }, std::size_t(forward));
  return finish<T>(op, out, {impl_ptr(x)}, {saved_by(reads)}, [df, n, backward](const Grad<T>& g) {
    const T *dy_data = g.dy(), *x_data = static_cast<const T*>(g.x(0)), *y_data = g.y();
    bool fresh;  // Note [first write assigns]
    T* dx_data = g.grad_for_overwrite(0, fresh);
    parallel_range(n, [&](std::size_t begin, std::size_t end) {
      const std::size_t len = end - begin;
      auto dy = flat(dy_data + begin, len);
      auto xv = flat(x_data ? x_data + begin : x_data, len);  // null when df does not read x
      auto yv = flat(y_data ? y_data + begin : y_data, len);
      auto dx = flat(dx_data + begin, len);
      if (fresh) xt::noalias(dx) = df(dy, xv, yv);
      else xt::noalias(dx) += df(dy, xv, yv);
    }, std::size_t(backward));
  });
}


}  // namespace tg::detail
