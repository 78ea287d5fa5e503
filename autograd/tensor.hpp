#pragma once
// TensorT<T>: a handle to a value (and, when it requires grad, a gradient) that ops record on
// the calling thread's tape. Tensor is float (training), TensorD is double (gradient checks).
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
#include <tapegrad/autograd/shape.hpp>

namespace tg {

template <class T>
struct TensorImpl;  // detail/tensor_impl.hpp: the value, gradient and graph links
namespace detail {
struct TensorAccess;
}

template <class T>
class TensorT {
 public:
  using value_type = T;
  // Read-only xtensor view over a tensor's buffer (no copy).
  using View = decltype(xt::adapt(std::declval<const T*>(), std::size_t{}, xt::no_ownership(),
                                  std::declval<const Shape&>()));

  TensorT() = default;  // an undefined tensor; defined() is false

  // A leaf that requires grad: a trainable parameter or a gradcheck input.
  // Every constructor checks the shape (Note [checked sizes] in shape.hpp): one whose element
  // or byte count overflows is std::invalid_argument; memory that cannot be had is
  // AllocationError, a std::bad_alloc naming the function and the bytes.
  static TensorT param(const xt::xarray<T>& value);
  // A leaf without grad: data, targets, constants.
  static TensorT constant(const xt::xarray<T>& value);
  static TensorT zeros(const Shape& shape, bool requires_grad = false);
  static TensorT full(const Shape& shape, T fill, bool requires_grad = false);
  static TensorT scalar(T value, bool requires_grad = false);

  // Every member but defined() needs a defined tensor: std::logic_error otherwise.
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  std::size_t dim() const { return shape().size(); }
  std::size_t numel() const { return tg::numel(shape()); }
  std::size_t size(long axis) const;

  // The value, read-only (no copy).
  const T* data() const;
  // Note [versions]: the value, for writing in place (initialisation, optimizer steps, loads).
  // Every call counts as a write: it bumps the version of the tensor's storage (shared with
  // its views and base), and backward() refuses a graph that saved this value before the
  // write (std::logic_error naming the op and the tensor), as PyTorch does.
  T* mutable_data();
  // How many in-place writes the storage has seen (mutable_data() calls, optimizer steps,
  // loads); a view and its base share the count.
  std::uint64_t version() const;
  View value() const { return xt::adapt(data(), numel(), xt::no_ownership(), shape()); }
  xt::xarray<T> to_xarray() const { return value(); }
  T item() const;  // the value of a one-element tensor

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
  bool is_same(const TensorT& other) const { return impl_ == other.impl_; }
  // Keep this non-leaf's gradient after backward() (to read dL/dh_t, say).
  void retain_grad();

  // Note [reading gradients]: reading a gradient never allocates one or changes whether a
  // tensor has one. grad() is the accumulated gradient as a new tensor (a copy, without
  // history), or an undefined tensor (defined() false) when there is none: backward never
  // reached this tensor since it was created or since zero_grad(true), as PyTorch's .grad is
  // None. So grad().defined() == has_grad(); a tensor of zero elements never has one.
  // std::logic_error for a tensor that does not require grad, or a non-leaf that did not
  // retain_grad().
  TensorT grad() const;
  // The one way to write into a leaf's gradient outside backward: allocates it as zeros when
  // there is none (so has_grad() becomes true), for code that must write, such as the ranks
  // of a distributed allreduce that lack a gradient. Code that only reads checks has_grad()
  // first (optimizers, clipping).
  T* grad_data();
  bool has_grad() const;
  // Zeroes the gradient, keeping its buffer (a tensor that had a gradient still has one, of
  // zeros); with set_to_none, releases it instead, so has_grad() is false until the next
  // backward reaches the tensor (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad(bool set_to_none = false);

  // Reverse sweep from this tensor. Without a seed it must hold one element (a loss).
  // The tape is released afterwards unless retain_graph is true.
  void backward(bool retain_graph = false);
  void backward(const xt::xarray<T>& seed, bool retain_graph = false);

  // A leaf with this value and no history: gradients stop here (truncated BPTT).
  TensorT detach() const;

 private:
  friend struct detail::TensorAccess;  // library code reaches the implementation through it
  explicit TensorT(std::shared_ptr<TensorImpl<T>> impl) : impl_(std::move(impl)) {}
  TensorImpl<T>& impl() const;
  std::shared_ptr<TensorImpl<T>> impl_;
};

using Tensor = TensorT<float>;
using TensorD = TensorT<double>;

template <class T>
TensorT<T> detach(const TensorT<T>& x) {
  return x.detach();
}

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

extern template class TensorT<float>;
extern template class TensorT<double>;

}  // namespace tg
