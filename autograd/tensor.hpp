#pragma once
// TensorT<T>: a handle to a value (and, when it requires grad, a gradient) that ops record on
// the calling thread's tape. Tensor is float (training), TensorD is double (gradient checks).
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <type_traits>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include <tapegrad/autograd/buffer_pool.hpp>
#include <tapegrad/autograd/shape.hpp>

namespace tg {

// Note [tensor ownership]: a TensorImpl owns its value and gradient buffers and nothing else.
// Tape nodes own the impls they read (their inputs and output); impls never own nodes, and own
// another impl only as a view's base (below), which is never a view itself. So a graph is
// freed by clearing one flat vector of nodes, never by a recursive chain of destructors, and a
// 100,000-step unrolled graph cannot overflow the stack.
//
// Note [views]: reshape, and slices of whole rows (every slice along axis 0, such as a time
// step's rows of a [T*B, P] projection), are contiguous, so their outputs borrow the input's
// memory instead of copying it; their gradients are separate buffers as for any op. As in
// PyTorch, writing into a view's or its base's value in place writes into both.
struct ImplBase {
  Shape shape;
  bool requires_grad = false;
  bool is_leaf = true;        // parameters, constants and detached values
  bool retains_grad = false;  // non-leaf whose gradient is kept after backward()
  std::uint64_t tape_epoch = 0;  // non-leaf: the tape generation that recorded its producer
  std::size_t tape_index = 0;    // non-leaf: index of its producer node on that tape
  const char* op = "leaf";       // producer's name, for error messages
  // Set when the value is a view (reshape, a slice of whole rows): the tensor that owns the
  // memory, kept alive by this pointer. Always an owner itself, so views never chain.
  std::shared_ptr<const ImplBase> base;

  virtual ~ImplBase() = default;
  virtual bool has_grad() const = 0;
  virtual void release_grad() = 0;
  virtual void keep_retained_grad() = 0;  // retained += grad (retain_grad() on a non-leaf)
  virtual bool value_finite() const = 0;
  virtual bool grad_finite() const = 0;
  virtual std::size_t value_bytes() const = 0;
};

template <class T>
struct TensorImpl final : ImplBase {
  static_assert(std::is_floating_point<T>::value, "tensors hold float or double");
  Buffer<T> value;
  Buffer<T> grad;      // leaf: accumulated gradient; non-leaf: lives only during backward()
  Buffer<T> retained;  // non-leaf with retain_grad(): its gradient after backward()

  // The gradient buffer, allocated as zeros on first use; backward functions add into it.
  T* grad_acc() {
    if (grad.empty()) grad = Buffer<T>::zeros(numel(shape));
    return grad.data();
  }
  // Note [first write assigns]: for a backward that writes every element of the gradient. When
  // the buffer is new it comes back uninitialised with fresh = true, and the caller assigns
  // (=) instead of adding (+=): no zero-fill and no read of zeros. Later writers add as usual.
  T* grad_for_overwrite(bool& fresh) {
    fresh = grad.empty();
    if (fresh) grad = Buffer<T>(numel(shape));
    return grad.data();
  }
  bool has_grad() const override { return !grad.empty(); }
  void release_grad() override { grad.reset(); }
  void keep_retained_grad() override;
  bool value_finite() const override;
  bool grad_finite() const override;
  std::size_t value_bytes() const override { return value.owned() ? value.size() * sizeof(T) : 0; }
};

namespace detail {
// The value buffer of a new tensor of `shape` made by `op`: the shape is checked first (Note
// [checked sizes], std::invalid_argument), and a failed allocation is an AllocationError
// (a std::bad_alloc) naming the op, the shape and the bytes.
template <class T>
Buffer<T> allocate_value(const char* op, const Shape& shape) {
  const std::size_t n = checked_numel(op, shape, sizeof(T));
  try {
    return Buffer<T>(n);
  } catch (const std::bad_alloc&) {
    throw_allocation_error(op, to_string(shape), n * sizeof(T));
  }
}
}  // namespace detail

template <class T>
class TensorT {
 public:
  using value_type = T;
  using Impl = TensorImpl<T>;
  // Read-only xtensor view over a tensor's buffer (no copy).
  using View = decltype(xt::adapt(std::declval<const T*>(), std::size_t{}, xt::no_ownership(),
                                  std::declval<const Shape&>()));

  TensorT() = default;  // an undefined tensor; defined() is false
  explicit TensorT(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

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

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  std::size_t dim() const { return shape().size(); }
  std::size_t numel() const { return tg::numel(shape()); }
  std::size_t size(long axis) const;

  const T* data() const { return impl().value.data(); }
  // Writable value: in-place updates of leaves (initialisation, optimizer steps).
  T* data() { return impl().value.data(); }
  View value() const { return xt::adapt(data(), numel(), xt::no_ownership(), shape()); }
  xt::xarray<T> to_xarray() const { return value(); }
  T item() const;  // the value of a one-element tensor

  bool requires_grad() const { return impl().requires_grad; }
  // Leaves only: turns gradient tracking on or off (freezing a parameter).
  void set_requires_grad(bool on);
  bool is_leaf() const { return impl().is_leaf; }
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

  const std::shared_ptr<Impl>& impl_ptr() const { return impl_; }
  Impl& impl() const {
    if (!impl_) throw std::logic_error("tapegrad: use of an undefined (default-constructed) tensor");
    return *impl_;
  }

 private:
  std::shared_ptr<Impl> impl_;
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
extern template struct TensorImpl<float>;
extern template struct TensorImpl<double>;

}  // namespace tg
