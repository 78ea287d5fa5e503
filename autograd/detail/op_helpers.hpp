#pragma once
// How an op is written (internal to tapegrad's op files; docs/adding_an_op.md walks through one):
//   auto out = detail::new_output<T>("tanh", x.shape());   // pooled value buffer, shape checked
//   ... compute out->value from x ...
//   return detail::finish<T>("tanh", out, {detail::impl_ptr(x)}, {detail::kOutput},
//                            [](const detail::Grad<T>& g) { ... g.in(0).grad += f(g.dy(), g.out()) ... });
// finish() runs the anomaly check and, when grad mode is on and an input requires grad,
// records the node (Note [op contract] in node.hpp): the node owns the inputs, the output and
// the declared data; the backward adds into the inputs' gradients (never assigns, except the
// first write of Note [first write assigns]).
#include <algorithm>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/node.hpp>
#include <tapegrad/autograd/detail/tensor_impl.hpp>

namespace tg::detail {

// An op's inputs (undefined optional inputs are null). Not an xt::svector: that container
// only suits trivially copyable types.
using Inputs = std::vector<std::shared_ptr<TensorImpl>>;

// An op's output: std::invalid_argument naming the op when the shape's size overflows, an
// AllocationError (std::bad_alloc) naming it when the memory cannot be had (Note [checked sizes]).
// Note [empty tensors]: an output with no elements has no gradient buffer, so backward_from
// skips its node; a backward that can run with an empty input (a reduction over nothing, a
// product with K = 0) must not touch that input's (null) gradient.
template <class T>
std::shared_ptr<TensorImpl> new_output(const char* op, const Shape& shape) {
  auto out = std::make_shared<TensorImpl>();
  out->shape = shape;
  out->dtype = dtype_of<T>();
  out->value = allocate_value(op, shape, out->dtype);
  return out;
}

// An output whose value is `shape`'s worth of x's value from element `offset` on, without a
// copy (Note [views]). The caller has checked that the elements lie inside x.
template <class T>
std::shared_ptr<TensorImpl> new_view(const Shape& shape, const Tensor& x, std::size_t offset) {
  auto out = std::make_shared<TensorImpl>();
  out->shape = shape;
  out->dtype = dtype_of<T>();
  TensorImpl& in = impl_of(x);
  out->value = Storage::borrowed(in.value.data<T>() + offset, out->dtype, numel(shape));
  out->set_base(impl_ptr(x));
  return out;
}

// What an op declares about its backward (Note [op contract] in node.hpp).
struct Recording {
  Recording(TensorSet saves_ = 0, TensorSet passes_dy_ = 0, std::shared_ptr<void> data_ = nullptr)  // NOLINT: {...}
      : saves(saves_), passes_dy(passes_dy_), data(std::move(data_)) {}
  TensorSet saves;             // the values its backward reads: input_bit(k), kOutput
  TensorSet passes_dy;         // inputs whose gradient is dy itself (the engine adds it)
  std::shared_ptr<void> data;  // what the forward computed for the backward (Grad::data)
};

// std::logic_error: node n's backward read a value it did not declare saved (input k, or the
// output when k == kMaxSavedInputs): a bug in the op, since that value may be released.
[[noreturn]] void throw_unsaved_read(const Node& n, std::size_t k);

// A backward's typed view of its node: dy, the output, the inputs and the op's data.
template <class T>
class Grad {
 public:
  explicit Grad(Node& node) : node_(node) {}
  // The output's gradient, of the output's shape.
  const T* dy() const { return out().grad.template data<T>(); }
  const TensorImpl& out() const { return *node_.out; }
  // Input k; needs(k) first for an optional one.
  TensorImpl& in(std::size_t k) const { return *node_.inputs[k]; }
  // Input k's value, and the output's: only those the op declared saved (Note [op contract]).
  const T* x(std::size_t k) const {
    if (!(node_.saves & input_bit(k))) throw_unsaved_read(node_, k);
    return in(k).value.template data<T>();
  }
  const T* y() const {
    if (!(node_.saves & kOutput)) throw_unsaved_read(node_, kMaxSavedInputs);
    return out().value.template data<T>();
  }
  // Input k's gradient to add into (allocated as zeros), or to assign on its first write
  // (Note [first write assigns]).
  T* grad_acc(std::size_t k) const { return in(k).template grad_acc<T>(); }
  T* grad_for_overwrite(std::size_t k, bool& fresh) const { return in(k).template grad_for_overwrite<T>(fresh); }
  // Whether optional input k was given (an undefined tensor is not).
  bool defined(std::size_t k) const { return node_.inputs[k] != nullptr; }
  // Whether input k is defined and takes a gradient.
  bool needs(std::size_t k) const { return takes_grad(node_, k); }
  template <class Data>
  const Data& data() const {
    return *static_cast<const Data*>(node_.data.get());
  }

 private:
  Node& node_;
};

inline bool wants_grad(const std::shared_ptr<TensorImpl>* inputs, std::size_t n) {
  if (!is_grad_enabled()) return false;
  for (std::size_t k = 0; k < n; ++k)
    if (inputs[k] && inputs[k]->requires_grad) return true;
  return false;
}

// Anomaly mode's check of an op's output: NonFiniteError naming the op and the time step.
inline void check_output_finite(const char* op, const TensorImpl& out) {
  if (is_anomaly_enabled() && !out.value_finite())
    throw NonFiniteError(std::string("anomaly: op '") + op + "'" + time_step_text(current_time_step()) +
                         " produced NaN/Inf in its output of shape " + to_string(out.shape));
}

// Records the op (when it needs recording) and returns its output. `backward` is a callable
// taking const Grad<T>& whose closure holds scalars only, or nullptr when the op's gradient
// is only what passes_dy declares.
template <class T, class Backward>
Tensor finish(const char* op, std::shared_ptr<TensorImpl> out,
                  const std::shared_ptr<TensorImpl>* inputs, std::size_t n, Recording&& rec,
                  Backward&& backward) {
  using Fn = std::decay_t<Backward>;
  static_assert(std::is_trivially_copyable<Fn>::value,
                "Note [op contract]: a backward closure holds scalars only; the node owns tensors and data");
  check_output_finite(op, *out);
  if (wants_grad(inputs, n)) {
    std::function<void(Node&)> fn;
    if constexpr (!std::is_same<Fn, std::nullptr_t>::value)
      fn = [f = Fn(std::forward<Backward>(backward))](Node& self) { f(Grad<T>(self)); };
    record_op(op, out, inputs, n, rec.saves, rec.passes_dy, std::move(rec.data), std::move(fn));
  }
  return wrap(std::move(out));
}

template <class T, class Backward>
Tensor finish(const char* op, std::shared_ptr<TensorImpl> out,
                  std::initializer_list<std::shared_ptr<TensorImpl>> inputs, Recording&& rec, Backward&& backward) {
  return finish<T>(op, std::move(out), inputs.begin(), inputs.size(), std::move(rec),
                   std::forward<Backward>(backward));
}

template <class T, class Backward>
Tensor finish(const char* op, std::shared_ptr<TensorImpl> out, const Inputs& inputs, Recording&& rec,
                  Backward&& backward) {
  return finish<T>(op, std::move(out), inputs.data(), inputs.size(), std::move(rec),
                   std::forward<Backward>(backward));
}

// Note [dtypes]: the dtype an op computes in, that of its defined tensors (undefined ones are
// optional inputs left out); std::invalid_argument naming the op and both dtypes when two
// differ, std::logic_error (an undefined tensor) when none is defined. Inline: every op call
// passes here.
[[noreturn]] void throw_mixed_dtypes(const char* op, Dtype a, Dtype b);
inline Dtype common_dtype(const char* op, std::initializer_list<const Tensor*> tensors) {
  const TensorImpl* first = nullptr;
  for (const Tensor* t : tensors) {
    const TensorImpl* im = impl_ptr(*t).get();
    if (!im) continue;
    if (!first) first = im;
    else if (im->dtype != first->dtype) throw_mixed_dtypes(op, first->dtype, im->dtype);
  }
  if (!first) throw_undefined_tensor();
  return first->dtype;
}
Dtype common_dtype(const char* op, const std::vector<Tensor>& tensors);

// A kernel's view of an input's value as T, without the check of Tensor::data<T>: the op's
// dispatch has matched T to the dtype.
template <class T>
const T* values(const Tensor& x) {
  return impl_of(x).value.template data<T>();
}

// kernel(T{}) for the op's dtype: the one place an op goes from a runtime dtype to its typed
// kernel.
template <class Kernel>
decltype(auto) dispatch(const char* op, std::initializer_list<const Tensor*> tensors, Kernel&& kernel) {
  return visit_dtype(common_dtype(op, tensors), std::forward<Kernel>(kernel));
}

// "op: <what> shapes [a] and [b]" for std::invalid_argument messages.
inline std::string shapes_message(const char* op, const std::string& what, const Shape& a,
                                  const Shape& b) {
  return std::string(op) + ": " + what + " (shapes " + to_string(a) + " and " + to_string(b) + ")";
}

}  // namespace tg::detail
