#include <tapegrad/autograd/detail/op_helpers.hpp>

namespace tg::detail {

void throw_mixed_dtypes(const char* op, Dtype a, Dtype b) {
  throw std::invalid_argument(std::string(op) + ": its tensors have different dtypes, " + dtype_name(a) + " and " +
                              dtype_name(b) + "; convert one with to() (Note [dtypes])");
}

Dtype common_dtype(const char* op, const std::vector<Tensor>& tensors) {
  const Tensor* first = nullptr;
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;
    if (!first) first = &t;
    else if (t.dtype() != first->dtype()) throw_mixed_dtypes(op, first->dtype(), t.dtype());
  }
  if (!first) throw_undefined_tensor();
  return first->dtype();
}

}  // namespace tg::detail
