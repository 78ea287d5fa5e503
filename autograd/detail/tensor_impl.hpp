#pragma once
// The implementation behind a Tensor handle, and the one door through which library code
// reaches it (TensorAccess). Internal to tapegrad: user code sees only tensor.hpp.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <tapegrad/autograd/detail/buffer.hpp>
#include <tapegrad/autograd/shape.hpp>
#include <tapegrad/autograd/tensor.hpp>

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
struct TensorImpl {
  TensorImpl() = default;
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;
  ~TensorImpl() {
    if (base) --base->view_count;
  }

  Shape shape;
  Dtype dtype = Dtype::float32;  // of value, grad and retained alike
  bool requires_grad = false;
  bool is_leaf = true;        // parameters, constants and detached values
  bool retains_grad = false;  // non-leaf whose gradient is kept after backward()
  std::uint64_t tape_epoch = 0;  // non-leaf: the tape generation that recorded its producer
  std::size_t tape_index = 0;    // non-leaf: index of its producer node on that tape
  const char* op = "leaf";       // producer's name, for error messages
  std::string name;              // a parameter's name in its module ("" otherwise), for messages
  // Set when the value is a view (reshape, a slice of whole rows): the tensor that owns the
  // memory, kept alive by this pointer. Always an owner itself, so views never chain.
  std::shared_ptr<const TensorImpl> base;
  mutable std::size_t view_count = 0;  // live views whose base this is (set_base)
  std::vector<Storage> retired;        // values replaced while views read them (Note [converting in place])
  // Note [versions]: how many times the storage was written in place since it was made. It
  // lives with the storage (the base of a view), so a view and its base share it.
  mutable std::uint64_t own_version = 0;
  // Note [unread values]: how the tape that made this tensor (tape_epoch) holds it, for releasing
  // a value no one can read any more; counted by record() from the node that made it on.
  mutable std::size_t tape_refs = 0;      // handles that tape's nodes hold (outputs and inputs)
  mutable bool read_by_backward = false;  // a node of that tape saved this value
  Storage value;
  Storage grad;      // leaf: accumulated gradient; non-leaf: lives only during backward()
  Storage retained;  // non-leaf with retain_grad(): its gradient after backward()

  // Makes this tensor a view of `owner`'s memory (or of its base's, when owner is a view).
  void set_base(const std::shared_ptr<TensorImpl>& owner) {
    base = owner->base ? owner->base : owner;
    ++base->view_count;
  }

  std::uint64_t version() const { return base ? base->own_version : own_version; }
  void bump_version() const { ++(base ? base->own_version : own_version); }

  // The gradient buffer, allocated as zeros on first use; backward functions add into it.
  // T is the dtype's type (the op's dispatch matched them).
  template <class T>
  T* grad_acc() {
    if (grad.empty()) grad = Storage::zeros(dtype, numel(shape));
    return grad.data<T>();
  }
  // Note [first write assigns]: for a backward that writes every element of the gradient. When
  // the buffer is new it comes back uninitialised with fresh = true, and the caller assigns
  // (=) instead of adding (+=): no zero-fill and no read of zeros. Later writers add as usual.
  template <class T>
  T* grad_for_overwrite(bool& fresh) {
    fresh = grad.empty();
    if (fresh) grad = Storage(dtype, numel(shape));
    return grad.data<T>();
  }
  bool has_grad() const { return !grad.empty(); }
  void release_grad() { grad.reset(); }
  void keep_retained_grad();  // retained += grad (retain_grad() on a non-leaf)
  bool value_finite() const;
  bool grad_finite() const;
  std::size_t value_bytes() const { return value.owned() ? value.bytes() : 0; }
  // grad += out's gradient, summed over broadcast dims to this shape (Note [op contract]:
  // an input whose gradient is dy itself). With may_take, a tensor of out's size that has no
  // gradient yet takes out's buffer instead of a copy; out must not read it afterwards.
  void add_gradient_of(TensorImpl& out, bool may_take);
};

namespace detail {

[[noreturn]] void throw_undefined_tensor();

// Note [converting in place]: Module::to converts its parameters' value and gradient to another
// dtype inside the same TensorImpl, so every handle (a layer's member, an optimizer's slot) sees
// the new dtype; the version is bumped (Note [versions]). A view made earlier keeps reading the
// memory it was made from, with the values of then, as a PyTorch view does after module.to():
// while views live the old value is kept in `retired` instead of being freed. A tensor read by
// a node on the tape cannot be converted (its backward would accumulate in the old dtype):
// check_convertible says so, naming the tensor.
void check_convertible(const Tensor& t, const char* who);
void convert_in_place(const Tensor& t, Dtype dtype);

// The value storage of a new tensor of `shape` made by `op`: the shape is checked first (Note
// [checked sizes], std::invalid_argument), and a failed allocation is an AllocationError
// (a std::bad_alloc) naming the op, the shape and the bytes.
Storage allocate_value(const char* op, const Shape& shape, Dtype dtype);
}  // namespace detail

namespace detail {

// Note [unread values]: the tape holds every op's output and inputs, but a backward reads only
// the values its op saved (Note [op contract]). So when the last handle to a recorded tensor
// dies and no node of the tape saved its value (nor a view borrows it), nothing can read that
// value again: it goes back to the buffer pool at once instead of at the end of backward().
// The tensor itself stays, for its gradient. In an LSTM step that is the GEMM's output, its four
// slices and the products f*c and i*g (160 of ~270 KB written per time step at B 32, H 128):
// the next ops reuse those blocks while they are still in cache, where the tape would otherwise
// keep them and every op would write fresh memory. Called by the handle being destroyed (or
// overwritten), with its impl still held: use_count() is then the tape's handles plus this one.
// Library code holding the impl in a shared_ptr of its own counts too, so it is never released
// under it; only a raw TensorImpl* reader must keep to the saved values (the backward does).
void release_if_unread(const std::shared_ptr<TensorImpl>& handle) noexcept;

// Library code's access to a handle's implementation (Tensor keeps it private).
struct TensorAccess {
  static const std::shared_ptr<TensorImpl>& ptr(const Tensor& t) { return t.impl_; }
  static Tensor wrap(std::shared_ptr<TensorImpl> impl) { return Tensor(std::move(impl)); }
};

// The implementation of a defined tensor; std::logic_error for an undefined one.
inline TensorImpl& impl_of(const Tensor& t) {
  const auto& p = TensorAccess::ptr(t);
  if (!p) throw_undefined_tensor();
  return *p;
}
// The shared implementation (null for an undefined tensor): what a tape node holds.
inline const std::shared_ptr<TensorImpl>& impl_ptr(const Tensor& t) { return TensorAccess::ptr(t); }
inline Tensor wrap(std::shared_ptr<TensorImpl> impl) { return TensorAccess::wrap(std::move(impl)); }

}  // namespace detail
}  // namespace tg
