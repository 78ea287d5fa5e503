#pragma once
// Tensor: a handle to a value (and, when it requires grad, a gradient) of a runtime dtype,
// float32 or float64, that ops record on the calling thread's tape.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include <tapegrad/autograd/buffer_pool.hpp>
#include <tapegrad/autograd/dtype.hpp>
#include <tapegrad/autograd/shape.hpp>

namespace tg {

struct TensorImpl;  // detail/tensor_impl.hpp: the value, gradient and graph links
namespace detail {
struct TensorAccess;
}

// Note [dtypes]: a tensor's dtype is a run-time property, so models, layers and optimizers are
// plain classes; float32 trains, float64 checks gradients (Module::to(kFloat64), gradcheck).
// - Ops compute in their inputs' dtype and return it; two dtypes in one op is
//   std::invalid_argument naming the op and both dtypes (no silent promotion). to(dtype)
//   converts, and gradients flow through it.
// - Typed access names the element type, data<float>(), and a dtype other than the tensor's
//   is std::invalid_argument naming both: memory is never reinterpreted.
// - Class ids, targets, masks and indices are IdTensors (int64, below), outside this rule.
class Tensor {
 public:
  // Read-only xtensor view over a tensor's buffer (no copy).
  template <class T>
  using View = decltype(xt::adapt(std::declval<const T*>(), std::size_t{}, xt::no_ownership(),
                                  std::declval<const Shape&>()));

  Tensor() = default;  // an undefined tensor; defined() is false
  Tensor(const Tensor&) = default;
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(const Tensor& other);
  Tensor& operator=(Tensor&& other) noexcept;
  ~Tensor();  // may release a recorded value nothing can read any more (Note [unread values])

  // A leaf that requires grad (a trainable parameter, a gradcheck input), holding a copy of
  // `value`: an xtensor expression of float (float32) or double (float64).
  // Every constructor checks the shape (Note [checked sizes] in shape.hpp): one whose element
  // or byte count overflows is std::invalid_argument; memory that cannot be had is
  // AllocationError, a std::bad_alloc naming the function and the bytes.
  template <class E>
  static Tensor param(const xt::xexpression<E>& value) {
    return from_expression(value.derived_cast(), true, "param");
  }
  // A leaf without grad: data, targets, constants.
  template <class E>
  static Tensor constant(const xt::xexpression<E>& value) {
    return from_expression(value.derived_cast(), false, "constant");
  }
  static Tensor zeros(const Shape& shape, Dtype dtype = kFloat32, bool requires_grad = false);
  static Tensor full(const Shape& shape, double fill, Dtype dtype = kFloat32, bool requires_grad = false);
  static Tensor scalar(double value, Dtype dtype = kFloat32, bool requires_grad = false);

  // Every member but defined() needs a defined tensor: std::logic_error otherwise.
  bool defined() const { return impl_ != nullptr; }
  Dtype dtype() const;
  const Shape& shape() const;
  std::size_t dim() const { return shape().size(); }
  std::size_t numel() const { return tg::numel(shape()); }
  std::size_t size(long axis) const;

  // The value, read-only (no copy); T must be the dtype's type (Note [dtypes]). The pointer is
  // valid while a handle to this tensor lives: a recorded value no backward reads goes back to
  // the buffer pool when its last handle dies (Note [unread values]), so keep the Tensor, not
  // the pointer of a temporary such as `(x * 2).data<float>()`.
  template <class T>
  const T* data() const {
    return static_cast<const T*>(value_bytes_as(dtype_of<T>(), "data"));
  }
  // Note [versions]: the value, for writing in place (initialisation, optimizer steps, loads).
  // Every call counts as a write: it bumps the version of the tensor's storage (shared with
  // its views and base), and backward() refuses a graph that saved this value before the
  // write (std::logic_error naming the op and the tensor), as PyTorch does.
  template <class T>
  T* mutable_data() {
    return static_cast<T*>(mutable_value_bytes_as(dtype_of<T>()));
  }
  // How many in-place writes the storage has seen (mutable_data() calls, optimizer steps,
  // loads, Module::to); a view and its base share the count.
  std::uint64_t version() const;
  template <class T>
  View<T> value() const {
    return xt::adapt(data<T>(), numel(), xt::no_ownership(), shape());
  }
  // A copy of the value as T, converted from the tensor's dtype when it differs.
  template <class T>
  xt::xarray<T> to_xarray() const {
    xt::xarray<T> out = xt::xarray<T>::from_shape(shape());
    visit_dtype(dtype(), [&](auto s) { std::copy_n(data<decltype(s)>(), numel(), out.data()); });
    return out;
  }
  double item() const;  // the value of a one-element tensor

  bool requires_grad() const;
  // Leaves only: turns gradient tracking on or off (freezing a parameter).
  void set_requires_grad(bool on);
  bool is_leaf() const;
  // The op that produced a non-leaf ("linear", ...); "leaf" for a leaf.
  const char* producer_op() const;
  // A parameter's name in its module ("lstm.cells.0.weight_ih"; Module sets it), else "".
  // Error messages about the tensor use it.
  const std::string& name() const;
  void set_name(std::string name);
  // Whether both handles refer to the same tensor (PyTorch's `a is b`).
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  // Keep this non-leaf's gradient after backward() (to read dL/dh_t, say).
  void retain_grad();

  // Note [reading gradients]: reading a gradient never allocates one or changes whether a
  // tensor has one. grad() is the accumulated gradient as a new tensor (a copy, without
  // history), or an undefined tensor (defined() false) when there is none: backward never
  // reached this tensor since it was created or since zero_grad(true), as PyTorch's .grad is
  // None. So grad().defined() == has_grad(); a tensor of zero elements never has one.
  // std::logic_error for a tensor that does not require grad, or a non-leaf that did not
  // retain_grad().
  Tensor grad() const;
  // The one way to write into a leaf's gradient outside backward: allocates it as zeros when
  // there is none (so has_grad() becomes true), for code that must write, such as the ranks
  // of a distributed allreduce that lack a gradient. Code that only reads checks has_grad()
  // first (optimizers, clipping).
  template <class T>
  T* grad_data() {
    return static_cast<T*>(grad_bytes_as(dtype_of<T>()));
  }
  bool has_grad() const;
  // Zeroes the gradient, keeping its buffer (a tensor that had a gradient still has one, of
  // zeros); with set_to_none, releases it instead, so has_grad() is false until the next
  // backward reaches the tensor (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad(bool set_to_none = false);

  // Reverse sweep from this tensor. Without a seed it must hold one element (a loss); a seed
  // has the tensor's shape and dtype. The tape is released afterwards unless retain_graph.
  void backward(bool retain_graph = false);
  void backward(const Tensor& seed, bool retain_graph = false);

  // A leaf with this value and no history: gradients stop here (truncated BPTT).
  Tensor detach() const;
  // This tensor in `dtype`: itself when it already is, else a converted copy that records
  // the conversion, so gradients flow back in the original dtype.
  Tensor to(Dtype dtype) const;

 private:
  friend struct detail::TensorAccess;  // library code reaches the implementation through it
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  TensorImpl& impl() const;
  const void* value_bytes_as(Dtype want, const char* what) const;
  void* mutable_value_bytes_as(Dtype want);
  void* grad_bytes_as(Dtype want);
  static Tensor from_array(const xt::xarray<float>& value, bool requires_grad, const char* op);
  static Tensor from_array(const xt::xarray<double>& value, bool requires_grad, const char* op);
  template <class E>
  static Tensor from_expression(const E& e, bool requires_grad, const char* op) {
    using V = std::decay_t<typename E::value_type>;
    static_assert(std::is_same<V, float>::value || std::is_same<V, double>::value,
                  "Tensor::param/constant take float (float32) or double (float64) values; "
                  "convert others with xt::cast<float>");
    if constexpr (std::is_same<E, xt::xarray<V>>::value) return from_array(e, requires_grad, op);
    else return from_array(xt::xarray<V>(e), requires_grad, op);
  }

  std::shared_ptr<TensorImpl> impl_;
};

inline Tensor detach(const Tensor& x) { return x.detach(); }

// Class ids, targets and masks: integer tensors (any integer xtensor expression: int32 or
// int64 arrays), held as int64. A default IdTensor (and IdTensor{}) holds no ids: shape [0].
class IdTensor {
 public:
  IdTensor() : ids_(xt::xarray<std::int64_t>::from_shape({0})) {}
  template <class E>
  IdTensor(const xt::xexpression<E>& e) : ids_(e.derived_cast()) {  // NOLINT: implicit on purpose
    static_assert(std::is_integral<typename E::value_type>::value,
                  "class ids, targets and masks are integer tensors");
  }
  IdTensor(std::initializer_list<std::int64_t> ids)
      : ids_(xt::xarray<std::int64_t>::from_shape({ids.size()})) {
    std::copy(ids.begin(), ids.end(), ids_.begin());
  }
  const Shape& shape() const { return ids_.shape(); }
  std::size_t size() const { return ids_.size(); }
  const std::int64_t* data() const { return ids_.data(); }
  const xt::xarray<std::int64_t>& array() const { return ids_; }

 private:
  xt::xarray<std::int64_t> ids_;
};

}  // namespace tg
