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

// in.grad += sum_to(f(dy, other), in.shape): f is evaluated at the broadcast shape os (a
// binary op's backward when its shapes differ; same shapes run pointwise, Note [pointwise runs]).
template <class T, class F>
void backprop_binary(TensorImpl& in, const T* dy, const Shape& os, const T* other,
                     const Shape& other_shape, F f) {
  const std::size_t n = numel(os);
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

// A pointwise backward's typed view of what the engine resolved (Note [pointwise runs]).
template <class T>
struct PointwiseGrad {
  const PointwiseArgs& args;
  const T* dy() const { return static_cast<const T*>(args.dy); }
  const T* y() const { return static_cast<const T*>(args.y); }
  const T* x(std::size_t k) const { return static_cast<const T*>(args.x[k]); }
  // Input k's gradient (null when it takes none), and whether this is its first write.
  T* dx(std::size_t k) const { return static_cast<T*>(args.dx[k]); }
  bool fresh(std::size_t k) const { return args.fresh[k]; }
};

// dx_k[i] = f(i) on a first write, else dx_k[i] += f(i), for i in [begin, end); nothing when
// input k takes no gradient.
template <class T, class F>
void write_grad(const PointwiseGrad<T>& g, std::size_t k, std::size_t begin, std::size_t end, F f) {
  T* dx = g.dx(k);
  if (!dx) return;
  if (g.fresh(k)) for (std::size_t i = begin; i < end; ++i) dx[i] = f(i);
  else for (std::size_t i = begin; i < end; ++i) dx[i] += f(i);
}

// finish() for a pointwise op: every input has the output's number of elements, and `range`,
// a callable (const PointwiseGrad<T>&, begin, end) holding scalars only, adds the gradients
// of the inputs in `writes` over elements [begin, end) (Note [pointwise runs]). `range` may be
// nullptr when the op's gradient is only what passes_dy declares. With a `window`, input 0 is
// larger and range writes only that window of its gradient (a slice).
template <class T, class Range>
Tensor finish_pointwise(const char* op, std::shared_ptr<TensorImpl> out,
                        std::initializer_list<std::shared_ptr<TensorImpl>> inputs, Recording&& rec,
                        TensorSet writes, Cost cost, Range&& range, PointwiseWindow window = {}) {
  using Fn = std::decay_t<Range>;
  static_assert(std::is_trivially_copyable<Fn>::value,
                "Note [op contract]: a backward closure holds scalars only; the node owns tensors and data");
  if (inputs.size() > kMaxPointwiseInputs)
    throw std::logic_error(std::string("tapegrad internal error: pointwise op '") + op + "' has too many inputs");
  check_output_finite(op, *out);
  if (!wants_grad(inputs.begin(), inputs.size())) return wrap(std::move(out));
  PointwiseBackward pointwise;
  pointwise.active = true;
  pointwise.writes = writes;
  pointwise.cost = std::size_t(cost);
  pointwise.window = window;
  if constexpr (!std::is_same<Fn, std::nullptr_t>::value)
    pointwise.range = [f = Fn(std::forward<Range>(range))](const PointwiseArgs& a, std::size_t begin,
                                                           std::size_t end) { f(PointwiseGrad<T>{a}, begin, end); };
  record_op(op, out, inputs.begin(), inputs.size(), rec.saves, rec.passes_dy, std::move(rec.data), nullptr,
            std::move(pointwise));
  return wrap(std::move(out));
}

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
  return finish_pointwise<T>(op, out, {impl_ptr(x)}, {saved_by(reads)}, input_bit(0), backward,
                             [df](const PointwiseGrad<T>& g, std::size_t begin, std::size_t end) {
    const std::size_t len = end - begin;
    auto dy = flat(g.dy() + begin, len);
    // x and y are null unless saved (Reads); df does not read what was not saved, so an
    // unsaved one is given dy's elements to stand in for it. (An op whose df read a value its
    // Reads leaves out would get dy there: its gradient check, which every op has, fails.)
    auto xv = flat((g.x(0) ? g.x(0) : g.dy()) + begin, len);
    auto yv = flat((g.y() ? g.y() : g.dy()) + begin, len);
    auto dx = flat(g.dx(0) + begin, len);
    if (g.fresh(0)) xt::noalias(dx) = df(dy, xv, yv);
    else xt::noalias(dx) += df(dy, xv, yv);
  });
}

}  // namespace tg::detail
