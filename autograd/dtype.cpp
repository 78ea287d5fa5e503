#include <tapegrad/autograd/detail/op_helpers.hpp>

namespace tg::detail {
namespace {

Dtype agree(const char* op, const Tensor* const* begin, const Tensor* const* end) {
  const Tensor* first = nullptr;
  for (auto it = begin; it != end; ++it) {
    const Tensor& t = **it;
    if (!t.defined()) continue;
    if (!first) first = &t;
    else if (t.dtype() != first->dtype())
      throw std::invalid_argument(std::string(op) + ": its tensors have different dtypes, " +
                                  dtype_name(first->dtype()) + " and " + dtype_name(t.dtype()) +
                                  "; convert one with to() (Note [dtypes])");
  }
  if (!first) throw_undefined_tensor();
  return first->dtype();
}

}  // namespace

Dtype common_dtype(const char* op, std::initializer_list<const Tensor*> tensors) {
  return agree(op, tensors.begin(), tensors.end());
}

Dtype common_dtype(const char* op, const std::vector<Tensor>& tensors) {
  std::vector<const Tensor*> ptrs;
  ptrs.reserve(tensors.size());
  for (const Tensor& t : tensors) ptrs.push_back(&t);
  return agree(op, ptrs.data(), ptrs.data() + ptrs.size());
}

}  // namespace tg::detail
