#include <tapegrad/autograd/tensor.hpp>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/tensor_impl.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include <tapegrad/autograd/detail/node.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

bool all_finite(const Storage& s) {
  return visit_dtype(s.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* p = s.template data<T>();
    for (std::size_t i = 0; i < s.size(); ++i)
      if (!std::isfinite(p[i])) return false;
    return true;
  });
}

std::shared_ptr<TensorImpl> leaf(const char* op, const Shape& shape, Dtype dtype, bool requires_grad) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->value = detail::allocate_value(op, shape, dtype);
  impl->requires_grad = requires_grad;
  return impl;
}

std::shared_ptr<TensorImpl> filled(const char* op, const Shape& shape, double fill, Dtype dtype,
                                   bool requires_grad) {
  auto impl = leaf(op, shape, dtype, requires_grad);
  visit_dtype(dtype, [&](auto t) {
    using T = decltype(t);
    std::fill_n(impl->value.template data<T>(), impl->value.size(), static_cast<T>(fill));
  });
  return impl;
}

template <class T>
std::shared_ptr<TensorImpl> copied(const char* op, const xt::xarray<T>& value, bool requires_grad) {
  auto impl = leaf(op, value.shape(), dtype_of<T>(), requires_grad);
  std::copy(value.begin(), value.end(), impl->value.template data<T>());
  return impl;
}

[[noreturn]] void throw_wrong_dtype(const char* what, const TensorImpl& im, Dtype want) {
  throw std::invalid_argument(std::string(what) + "<" + (want == kFloat32 ? "float" : "double") +
                              ">: the tensor" + (im.name.empty() ? "" : " '" + im.name + "'") + " is " +
                              dtype_name(im.dtype) + ", not " + dtype_name(want) + " (Note [dtypes])");
}

}  // namespace

namespace detail {
void throw_undefined_tensor() {
  throw std::logic_error("tapegrad: use of an undefined (default-constructed) tensor");
}

Storage allocate_value(const char* op, const Shape& shape, Dtype dtype) {
  const std::size_t n = checked_numel(op, shape, dtype_size(dtype));
  try {
    return Storage(dtype, n);
  } catch (const std::bad_alloc&) {
    throw_allocation_error(op, to_string(shape), n * dtype_size(dtype));
  }
}

namespace {
// from's elements converted to `dtype`, in a new storage.
Storage converted(const Storage& from, Dtype dtype) {
  Storage to(dtype, from.size());
  visit_dtype(from.dtype(), [&](auto f) {
    visit_dtype(dtype, [&](auto t) {
      using To = decltype(t);
      std::transform(from.data<decltype(f)>(), from.data<decltype(f)>() + from.size(), to.data<To>(),
                     [](auto v) { return static_cast<To>(v); });
    });
  });
  return to;
}
}  // namespace

void check_convertible(const Tensor& t, const char* who) {
  const TensorImpl& im = impl_of(t);
  const std::string name = im.name.empty() ? std::string("a tensor") : "'" + im.name + "'";
  if (!im.is_leaf || im.base)
    throw std::logic_error(std::string(who) + ": " + name + " is not a leaf that owns its memory; "
                           "only parameters (Tensor::param) convert in place");
  if (tape_references(im))
    throw std::logic_error(std::string(who) + ": " + name + " is used by the graph recorded since the last "
                           "backward; run backward() or clear_tape() before converting");
}

void convert_in_place(const Tensor& t, Dtype dtype) {
  check_convertible(t, "convert_in_place");
  TensorImpl& im = impl_of(t);
  if (im.dtype == dtype) return;
  Storage value = converted(im.value, dtype);
  Storage grad = im.grad.empty() ? Storage() : converted(im.grad, dtype);
  if (im.view_count > 0) im.retired.push_back(std::move(im.value));  // views still read it
  im.value = std::move(value);
  im.grad = std::move(grad);
  im.dtype = dtype;
  im.bump_version();
}

}  // namespace detail

void TensorImpl::keep_retained_grad() {
  if (grad.empty()) return;
  if (retained.empty()) retained = Storage::zeros(dtype, grad.size());
  visit_dtype(dtype, [&](auto t) {
    using T = decltype(t);
    detail::add_into(retained.template data<T>(), grad.template data<T>(), grad.size());
  });
}

void TensorImpl::add_gradient_of(TensorImpl& out, bool may_take) {
  // a node's tensors share one dtype (each op's dispatch checked its inputs)
  const std::size_t n = numel(shape);
  if (n == numel(out.shape) && grad.empty() && may_take) {
    grad = std::move(out.grad);
    return;
  }
  visit_dtype(dtype, [&](auto t) {
    using T = decltype(t);
    if (n != numel(out.shape)) {  // broadcast: dy summed over the expanded dims
      detail::accumulate_sum_to(grad_acc<T>(), shape, out.grad.template data<T>(), out.shape);
    } else if (grad.empty()) {  // Note [first write assigns]
      grad = Storage(dtype, n);
      std::copy_n(out.grad.template data<T>(), n, grad.template data<T>());
    } else {
      detail::add_into(grad.template data<T>(), out.grad.template data<T>(), n);
    }
  });
}

bool TensorImpl::value_finite() const { return all_finite(value); }
bool TensorImpl::grad_finite() const { return all_finite(grad); }

Tensor Tensor::from_array(const xt::xarray<float>& value, bool requires_grad, const char* op) {
  return Tensor(copied(op, value, requires_grad));
}

Tensor Tensor::from_array(const xt::xarray<double>& value, bool requires_grad, const char* op) {
  return Tensor(copied(op, value, requires_grad));
}

Tensor Tensor::full(const Shape& shape, double fill, Dtype dtype, bool requires_grad) {
  return Tensor(filled("full", shape, fill, dtype, requires_grad));
}

Tensor Tensor::zeros(const Shape& shape, Dtype dtype, bool requires_grad) {
  return Tensor(filled("zeros", shape, 0.0, dtype, requires_grad));
}

Tensor Tensor::scalar(double value, Dtype dtype, bool requires_grad) {
  return Tensor(filled("scalar", Shape{}, value, dtype, requires_grad));
}

TensorImpl& Tensor::impl() const {
  if (!impl_) detail::throw_undefined_tensor();
  return *impl_;
}

Dtype Tensor::dtype() const { return impl().dtype; }

const Shape& Tensor::shape() const { return impl().shape; }

const void* Tensor::value_bytes_as(Dtype want, const char* what) const {
  const TensorImpl& im = impl();
  if (im.dtype != want) throw_wrong_dtype(what, im, want);
  return im.value.raw();
}

void* Tensor::mutable_value_bytes_as(Dtype want) {
  TensorImpl& im = impl();
  if (im.dtype != want) throw_wrong_dtype("mutable_data", im, want);
  im.bump_version();
  return im.value.raw();
}

void* Tensor::grad_bytes_as(Dtype want) {
  TensorImpl& im = impl();
  if (im.dtype != want) throw_wrong_dtype("grad_data", im, want);
  if (!im.is_leaf || !im.requires_grad)
    throw std::logic_error("grad_data: only leaves that require grad (parameters) have a "
                           "writable gradient");
  if (im.grad.empty()) im.grad = Storage::zeros(im.dtype, tg::numel(im.shape));
  return im.grad.raw();
}

std::uint64_t Tensor::version() const { return impl().version(); }

bool Tensor::requires_grad() const { return impl().requires_grad; }

bool Tensor::is_leaf() const { return impl().is_leaf; }

const char* Tensor::producer_op() const { return impl().op; }

const std::string& Tensor::name() const { return impl().name; }

void Tensor::set_name(std::string name) { impl().name = std::move(name); }

std::size_t Tensor::size(long axis) const { return shape()[normalize_axis("size", axis, dim())]; }

double Tensor::item() const {
  if (numel() != 1)
    throw std::invalid_argument("item: needs a one-element tensor, got shape " + to_string(shape()));
  return visit_dtype(dtype(), [&](auto t) { return static_cast<double>(data<decltype(t)>()[0]); });
}

void Tensor::set_requires_grad(bool on) {
  if (!is_leaf())
    throw std::logic_error("set_requires_grad: only leaves can change it; this tensor was "
                           "produced by op '" + std::string(impl().op) +
                           "'. Use detach() to get a leaf.");
  impl().requires_grad = on;
  if (!on) impl().release_grad();
}

void Tensor::retain_grad() {
  if (!requires_grad())
    throw std::logic_error("retain_grad: the tensor does not require grad, so it never gets one");
  if (!is_leaf()) impl().retains_grad = true;  // leaves keep their gradient anyway
}

Tensor Tensor::grad() const {
  TensorImpl& im = impl();
  if (!im.requires_grad)
    throw std::logic_error("grad: the tensor does not require grad; create it with "
                           "Tensor::param() or set_requires_grad(true)");
  if (!im.is_leaf && !im.retains_grad)
    throw std::logic_error("grad: this tensor is a non-leaf (produced by op '" +
                           std::string(im.op) +
                           "'); its gradient is freed during backward. Call retain_grad() "
                           "on it before backward() to keep it.");
  // Note [reading gradients]: a copy, or undefined when there is none; nothing is allocated
  // in the tensor itself.
  const Storage& g = im.is_leaf ? im.grad : im.retained;
  if (g.empty()) return Tensor();
  auto out = leaf("grad", im.shape, im.dtype, false);
  if (g.bytes()) std::memcpy(out->value.raw(), g.raw(), g.bytes());
  return Tensor(out);
}

bool Tensor::has_grad() const { return is_leaf() ? impl().has_grad() : !impl().retained.empty(); }

void Tensor::zero_grad(bool set_to_none) {
  TensorImpl& im = impl();
  if (set_to_none) {
    if (im.is_leaf) im.release_grad();
    im.retained.reset();
    return;
  }
  if (!im.grad.empty() && im.is_leaf) std::memset(im.grad.raw(), 0, im.grad.bytes());
  if (!im.retained.empty()) std::memset(im.retained.raw(), 0, im.retained.bytes());
}

void Tensor::backward(bool retain_graph) {
  if (defined() && numel() != 1)
    throw std::logic_error("backward: the output has shape " + to_string(shape()) +
                           "; backward() without a seed gradient needs a one-element tensor "
                           "(a loss). Reduce it with sum() or mean(), or pass a seed of the "
                           "same shape.");
  backward(Tensor::full(shape(), 1.0, dtype()), retain_graph);
}

void Tensor::backward(const Tensor& seed, bool retain_graph) {
  TensorImpl& im = impl();
  if (!im.requires_grad)
    throw std::logic_error("backward: the tensor does not require grad (it was computed from "
                           "constants only, or under NoGradGuard), so there is nothing to "
                           "differentiate");
  if (seed.shape() != im.shape)
    throw std::invalid_argument("backward: the seed gradient has shape " + to_string(seed.shape()) +
                                " but the output has shape " + to_string(im.shape));
  if (seed.dtype() != im.dtype)
    throw std::invalid_argument(std::string("backward: the seed gradient is ") + dtype_name(seed.dtype()) +
                                " but the output is " + dtype_name(im.dtype));
  if (!im.is_leaf && im.tape_epoch != detail::current_epoch())
    throw std::logic_error("backward: the graph of this tensor (produced by op '" +
                           std::string(im.op) +
                           "') was already released by an earlier backward() or clear_tape(). "
                           "Recompute the forward pass, or pass retain_graph=true to the first "
                           "backward() if you really need two.");
  visit_dtype(im.dtype, [&](auto t) {
    using T = decltype(t);
    bool fresh;  // a new gradient is the seed itself (Note [first write assigns])
    T* grad = im.template grad_for_overwrite<T>(fresh);
    if (fresh) std::copy_n(seed.template data<T>(), tg::numel(im.shape), grad);
    else detail::add_into(grad, seed.template data<T>(), tg::numel(im.shape));
  });
  if (!im.is_leaf) detail::backward_from(im, retain_graph);
}

namespace {
// A handle now holding `next`: the impl it let go of may release its value (Note [unread values]).
void rebind(std::shared_ptr<TensorImpl>& handle, std::shared_ptr<TensorImpl> next) noexcept {
  const std::shared_ptr<TensorImpl> old = std::exchange(handle, std::move(next));
  if (old) detail::release_if_unread(old);
}
}  // namespace

Tensor::~Tensor() {
  if (impl_) detail::release_if_unread(impl_);
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (impl_ != other.impl_) rebind(impl_, other.impl_);
  return *this;
}

Tensor& Tensor::operator=(Tensor&& other) noexcept {
  if (this != &other) rebind(impl_, std::move(other.impl_));
  return *this;
}

Tensor Tensor::detach() const {
  const TensorImpl& im = impl();
  auto out = leaf("detach", im.shape, im.dtype, false);
  if (im.value.bytes()) std::memcpy(out->value.raw(), im.value.raw(), im.value.bytes());
  return Tensor(out);
}

Tensor Tensor::to(Dtype dtype) const { return to_dtype(*this, dtype); }

}  // namespace tg
