#include <tapegrad/autograd/tensor.hpp>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/tensor_impl.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include <xtensor/xbuilder.hpp>

#include <tapegrad/autograd/detail/node.hpp>

namespace tg {
namespace {

template <class T>
bool all_finite(const Buffer<T>& b) {
  const T* p = b.data();
  for (std::size_t i = 0; i < b.size(); ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

template <class T>
std::shared_ptr<TensorImpl<T>> leaf(const char* op, const Shape& shape, bool requires_grad) {
  auto impl = std::make_shared<TensorImpl<T>>();
  impl->shape = shape;
  impl->value = detail::allocate_value<T>(op, shape);
  impl->requires_grad = requires_grad;
  return impl;
}

template <class T>
std::shared_ptr<TensorImpl<T>> filled(const char* op, const Shape& shape, T fill, bool requires_grad) {
  auto impl = leaf<T>(op, shape, requires_grad);
  std::fill_n(impl->value.data(), impl->value.size(), fill);
  return impl;
}

}  // namespace

namespace detail {
void throw_undefined_tensor() {
  throw std::logic_error("tapegrad: use of an undefined (default-constructed) tensor");
}
}  // namespace detail

template <class T>
void TensorImpl<T>::keep_retained_grad() {
  if (grad.empty()) return;
  if (retained.empty()) retained = Buffer<T>::zeros(grad.size());
  for (std::size_t i = 0; i < grad.size(); ++i) retained.data()[i] += grad.data()[i];
}

template <class T>
void TensorImpl<T>::add_gradient_of(ImplBase& out_base, bool may_take) {
  auto& out = static_cast<TensorImpl<T>&>(out_base);  // a node's tensors share one scalar type
  const std::size_t n = numel(shape);
  if (n != numel(out.shape)) {  // broadcast: dy summed over the expanded dims
    detail::accumulate_sum_to(grad_acc(), shape, out.grad.data(), out.shape);
  } else if (grad.empty() && may_take) {
    grad = std::move(out.grad);
  } else if (grad.empty()) {  // Note [first write assigns]
    grad = Buffer<T>(n);
    std::copy_n(out.grad.data(), n, grad.data());
  } else {
    detail::add_into(grad.data(), out.grad.data(), n);
  }
}

template <class T>
bool TensorImpl<T>::value_finite() const {
  return all_finite(value);
}

template <class T>
bool TensorImpl<T>::grad_finite() const {
  return all_finite(grad);
}

template <class T>
TensorT<T> TensorT<T>::param(const xt::xarray<T>& value) {
  auto impl = leaf<T>("param", value.shape(), true);
  std::copy(value.begin(), value.end(), impl->value.data());
  return TensorT(impl);
}

template <class T>
TensorT<T> TensorT<T>::constant(const xt::xarray<T>& value) {
  auto impl = leaf<T>("constant", value.shape(), false);
  std::copy(value.begin(), value.end(), impl->value.data());
  return TensorT(impl);
}

template <class T>
TensorT<T> TensorT<T>::full(const Shape& shape, T fill, bool requires_grad) {
  return TensorT(filled("full", shape, fill, requires_grad));
}

template <class T>
TensorT<T> TensorT<T>::zeros(const Shape& shape, bool requires_grad) {
  return TensorT(filled("zeros", shape, T(0), requires_grad));
}

template <class T>
TensorT<T> TensorT<T>::scalar(T value, bool requires_grad) {
  return TensorT(filled("scalar", Shape{}, value, requires_grad));
}

template <class T>
TensorImpl<T>& TensorT<T>::impl() const {
  if (!impl_) detail::throw_undefined_tensor();
  return *impl_;
}

template <class T>
const Shape& TensorT<T>::shape() const {
  return impl().shape;
}

template <class T>
const T* TensorT<T>::data() const {
  return impl().value.data();
}

template <class T>
T* TensorT<T>::mutable_data() {
  TensorImpl<T>& im = impl();
  im.bump_version();
  return im.value.data();
}

template <class T>
std::uint64_t TensorT<T>::version() const {
  return impl().version();
}

template <class T>
bool TensorT<T>::requires_grad() const {
  return impl().requires_grad;
}

template <class T>
bool TensorT<T>::is_leaf() const {
  return impl().is_leaf;
}

template <class T>
const char* TensorT<T>::producer_op() const {
  return impl().op;
}

template <class T>
const std::string& TensorT<T>::name() const {
  return impl().name;
}

template <class T>
void TensorT<T>::set_name(std::string name) {
  impl().name = std::move(name);
}

template <class T>
std::size_t TensorT<T>::size(long axis) const {
  return shape()[normalize_axis("size", axis, dim())];
}

template <class T>
T TensorT<T>::item() const {
  if (numel() != 1)
    throw std::invalid_argument("item: needs a one-element tensor, got shape " +
                                to_string(shape()));
  return data()[0];
}

template <class T>
void TensorT<T>::set_requires_grad(bool on) {
  if (!is_leaf())
    throw std::logic_error("set_requires_grad: only leaves can change it; this tensor was "
                           "produced by op '" + std::string(impl().op) +
                           "'. Use detach() to get a leaf.");
  impl().requires_grad = on;
  if (!on) impl().release_grad();
}

template <class T>
void TensorT<T>::retain_grad() {
  if (!requires_grad())
    throw std::logic_error("retain_grad: the tensor does not require grad, so it never gets one");
  if (!is_leaf()) impl().retains_grad = true;  // leaves keep their gradient anyway
}

template <class T>
TensorT<T> TensorT<T>::grad() const {
  TensorImpl<T>& im = impl();
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
  const Buffer<T>& g = im.is_leaf ? im.grad : im.retained;
  if (g.empty()) return TensorT();
  auto out = leaf<T>("grad", im.shape, false);
  std::copy_n(g.data(), g.size(), out->value.data());
  return TensorT(out);
}

template <class T>
T* TensorT<T>::grad_data() {
  if (!is_leaf() || !requires_grad())
    throw std::logic_error("grad_data: only leaves that require grad (parameters) have a "
                           "writable gradient");
  return impl().grad_acc();
}

template <class T>
bool TensorT<T>::has_grad() const {
  return is_leaf() ? impl().has_grad() : !impl().retained.empty();
}

template <class T>
void TensorT<T>::zero_grad(bool set_to_none) {
  TensorImpl<T>& im = impl();
  if (set_to_none) {
    if (im.is_leaf) im.release_grad();
    im.retained.reset();
    return;
  }
  if (!im.grad.empty() && im.is_leaf) std::memset(im.grad.data(), 0, im.grad.size() * sizeof(T));
  if (!im.retained.empty()) std::memset(im.retained.data(), 0, im.retained.size() * sizeof(T));
}

template <class T>
void TensorT<T>::backward(bool retain_graph) {
  if (defined() && numel() != 1)
    throw std::logic_error("backward: the output has shape " + to_string(shape()) +
                           "; backward() without a seed gradient needs a one-element tensor "
                           "(a loss). Reduce it with sum() or mean(), or pass a seed of the "
                           "same shape.");
  backward(xt::xarray<T>(xt::ones<T>(shape())), retain_graph);
}

template <class T>
void TensorT<T>::backward(const xt::xarray<T>& seed, bool retain_graph) {
  TensorImpl<T>& im = impl();
  if (!im.requires_grad)
    throw std::logic_error("backward: the tensor does not require grad (it was computed from "
                           "constants only, or under NoGradGuard), so there is nothing to "
                           "differentiate");
  if (Shape(seed.shape()) != im.shape)
    throw std::invalid_argument("backward: the seed gradient has shape " +
                                to_string(seed.shape()) + " but the output has shape " +
                                to_string(im.shape));
  if (!im.is_leaf && im.tape_epoch != detail::current_epoch())
    throw std::logic_error("backward: the graph of this tensor (produced by op '" +
                           std::string(im.op) +
                           "') was already released by an earlier backward() or clear_tape(). "
                           "Recompute the forward pass, or pass retain_graph=true to the first "
                           "backward() if you really need two.");
  T* g = im.grad_acc();
  std::size_t i = 0;
  for (T s : seed) g[i++] += s;
  if (!im.is_leaf) detail::backward_from(im, retain_graph);
}

template <class T>
TensorT<T> TensorT<T>::detach() const {
  auto impl = leaf<T>("detach", shape(), false);
  std::copy_n(data(), numel(), impl->value.data());
  return TensorT(impl);
}

template struct TensorImpl<float>;
template struct TensorImpl<double>;
template class TensorT<float>;
template class TensorT<double>;

}  // namespace tg
