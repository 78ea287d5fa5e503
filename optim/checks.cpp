#include "detail/checks.hpp"

#include <cmath>
#include <stdexcept>

namespace tg::detail {

void require(bool ok, const char* who, const char* what, const char* rule, double value) {
  if (!ok)
    throw std::invalid_argument(std::string(who) + ": " + what + " must be " + rule + ", got " +
                                exact_text(value));
}

void require_finite_nonnegative(const char* who, const char* what, double value) {
  require(value >= 0.0 && std::isfinite(value), who, what, "finite and >= 0", value);
}

}  // namespace tg::detail
