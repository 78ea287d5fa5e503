#pragma once
// Finite-difference gradient check in double precision (PyTorch's gradcheck contract).
#include <functional>
#include <iosfwd>
#include <string>
#include <type_traits>
#include <vector>

#include <tapegrad/autograd/tensor.hpp>

namespace tg {

struct GradcheckResult {
  bool passed = false;
  std::size_t elements_checked = 0;
  double max_abs_error = 0;  // max |analytic - numeric| over every checked element
  std::string message;       // the first failing element, or a summary when passed
  explicit operator bool() const { return passed; }
};
std::ostream& operator<<(std::ostream& os, const GradcheckResult& r);

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// f maps the inputs to one float64 output, and the inputs that require grad are float64
// (Tensor::to(kFloat64) converts), else std::invalid_argument. With a fixed random weight w of
// the output's shape, the analytic gradient of sum(w * f) with respect to every element of
// every input that requires grad is compared with its central difference
// (f(x + eps) - f(x - eps)) / 2eps; the check
// passes when |analytic - numeric| <= atol + rtol * |numeric| everywhere. f must be
// deterministic (re-seed inside f if it draws random numbers, as dropout does).
// The inputs must be leaves; they are perturbed in place and restored exactly, and their
// gradients are left as they were, so a module's parameters can be inputs while f calls the
// module.
GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs,
                          double eps = 1e-6, double atol = 1e-5, double rtol = 1e-3);

}  // namespace tg
