#pragma once
// How an op is written (internal to tapegrad's op files):
//   auto out = detail::new_output<T>("tanh", shape);   // pooled value buffer, shape checked
//   ... compute out->value ...
//   return detail::finish<T>("tanh", out, {x.impl_ptr()}, [=] { ... add into x's grad ... });
// finish() runs anomaly checks and, when grad mode is on and an input requires grad, records
// the node whose closure adds the output's gradient into the inputs' gradients (never assigns).
#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/node.hpp>
#include <tapegrad/autograd/detail/tensor_impl.hpp>

namespace tg::detail {

// An op's inputs (undefined optional inputs are null). Not an xt::svector: that container
// only suits trivially copyable types.
using Inputs = std::vector<std::shared_ptr<ImplBase>>;

// An op's output: std::invalid_argument naming the op when the shape's size overflows, an
// AllocationError (std::bad_alloc) naming it when the memory cannot be had (Note [checked sizes]).
// Note [empty tensors]: an output with no elements has no gradient buffer, so backward_from
// skips its node; a backward that can run with an empty input (a reduction over nothing, a
// product with K = 0) must not touch that input's (null) gradient.
template <class T>
std::shared_ptr<TensorImpl<T>> new_output(const char* op, const Shape& shape) {
  auto out = std::make_shared<TensorImpl<T>>();
  out->shape = shape;
  out->value = allocate_value<T>(op, shape);
  return out;
}

// An output whose value is `shape`'s worth of x's value from element `offset` on, without a
// copy (Note [views]). The caller has checked that the elements lie inside x.
template <class T>
std::shared_ptr<TensorImpl<T>> new_view(const Shape& shape, const TensorT<T>& x, std::size_t offset) {
  auto out = std::make_shared<TensorImpl<T>>();
  out->shape = shape;
  TensorImpl<T>& in = impl_of(x);
  out->value = Buffer<T>::borrowed(in.value.data() + offset, numel(shape));
  out->base = in.base ? in.base : impl_ptr(x);
  return out;
}

inline bool wants_grad(const std::shared_ptr<ImplBase>* inputs, std::size_t n) {
  if (!is_grad_enabled()) return false;
  for (std::size_t k = 0; k < n; ++k)
    if (inputs[k] && inputs[k]->requires_grad) return true;
  return false;
}

template <class T, class Backward>
TensorT<T> finish(const char* op, std::shared_ptr<TensorImpl<T>> out,
                  const std::shared_ptr<ImplBase>* inputs, std::size_t n, Backward&& backward) {
  if (is_anomaly_enabled() && !out->value_finite())
    throw NonFiniteError(std::string("anomaly: op '") + op + "'" + time_step_text(current_time_step()) +
                         " produced NaN/Inf in its output of shape " + to_string(out->shape));
  if (wants_grad(inputs, n)) {
    Node node;
    node.op = op;
    const std::uint64_t epoch = current_epoch();
    for (std::size_t k = 0; k < n; ++k) {
      const auto& in = inputs[k];
      if (!in || !in->requires_grad) continue;
      node.inputs.push_back(in.get());
      if (!in->is_leaf && in->tape_epoch != epoch) node.stale = in.get();
    }
    out->requires_grad = true;
    out->is_leaf = false;
    out->op = op;
    node.out = out;
    node.backward = std::forward<Backward>(backward);
    record(std::move(node));
  }
  return wrap(std::move(out));
}

template <class T, class Backward>
TensorT<T> finish(const char* op, std::shared_ptr<TensorImpl<T>> out,
                  std::initializer_list<std::shared_ptr<ImplBase>> inputs, Backward&& backward) {
  return finish<T>(op, std::move(out), inputs.begin(), inputs.size(), std::forward<Backward>(backward));
}

template <class T, class Backward>
TensorT<T> finish(const char* op, std::shared_ptr<TensorImpl<T>> out, const Inputs& inputs,
                  Backward&& backward) {
  return finish<T>(op, std::move(out), inputs.data(), inputs.size(), std::forward<Backward>(backward));
}

// in.grad += sum_to(dy, in.shape), dy of shape os: a copy when the shapes match and the
// gradient is new (Note [first write assigns]).
template <class T>
void pass_gradient(TensorImpl<T>& in, const T* dy, const Shape& os) {
  if (numel(in.shape) != numel(os)) {
    accumulate_sum_to(in.grad_acc(), in.shape, dy, os);
    return;
  }
  bool fresh;
  T* g = in.grad_for_overwrite(fresh);
  if (fresh) std::copy_n(dy, numel(os), g);
  else add_into(g, dy, numel(os));
}

// in.grad += out.grad, where this is the last read of out's gradient in its node's backward
// (backward_from releases it right after): a new gradient of in takes out's buffer, no copy.
// Not when out retains its gradient: backward_from keeps it after the node has run.
template <class T>
void hand_over_gradient(TensorImpl<T>& in, TensorImpl<T>& out) {
  if (in.grad.empty() && !out.retains_grad && numel(in.shape) == numel(out.shape)) {
    in.grad = std::move(out.grad);
    return;
  }
  pass_gradient(in, out.grad.data(), out.shape);
}

// "op: <what> shapes [a] and [b]" for std::invalid_argument messages.
inline std::string shapes_message(const char* op, const std::string& what, const Shape& a,
                                  const Shape& b) {
  return std::string(op) + ": " + what + " (shapes " + to_string(a) + " and " + to_string(b) + ")";
}

}  // namespace tg::detail
