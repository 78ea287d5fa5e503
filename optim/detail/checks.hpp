#pragma once
// Argument checks shared by the optimizers and the schedules (internal to optim/): one message
// format, "<who>: <what> must be <rule>, got <value>", with the value printed exactly.
#include <string>

#include <tapegrad/autograd/number_text.hpp>

namespace tg::detail {

// std::invalid_argument "<who>: <what> must be <rule>, got <value>" unless ok.
void require(bool ok, const char* who, const char* what, const char* rule, double value);
// require(value is finite and >= 0).
void require_finite_nonnegative(const char* who, const char* what, double value);

}  // namespace tg::detail
