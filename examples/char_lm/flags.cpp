#include "flags.hpp"

#include <tapegrad/autograd/number_text.hpp>

#include "options.hpp"

namespace charlm {
namespace {

std::string describe(WholeRange r) {
  if (r.max == std::numeric_limits<std::uint64_t>::max()) return "a whole number >= " + std::to_string(r.min);
  return "a whole number from " + std::to_string(r.min) + " to " + std::to_string(r.max);
}

std::string describe(RealRange r) {
  const std::string low = (r.min_open ? "> " : ">= ") + tg::exact_text(r.min);
  if (r.max == std::numeric_limits<double>::max()) return "a finite number " + low;
  return "a finite number " + low + " and <= " + tg::exact_text(r.max);
}

// The rule as a sentence when `text` breaks it, "" when it is fine; `out` gets the value.
std::string check_whole(const std::string& text, WholeRange r, std::uint64_t& out) {
  if (!tg::parse_whole(text, out) || out < r.min || out > r.max)
    return "must be " + describe(r) + " in decimal digits, got '" + tg::quote_input(text, 40) + "'";
  return "";
}

std::string check_real(const std::string& text, RealRange r, double& out) {
  if (!tg::parse_finite(text, out) || out < r.min || (r.min_open && out == r.min) || out > r.max)
    return "must be " + describe(r) + ", got '" + tg::quote_input(text, 40) + "'";
  return "";
}

}  // namespace

std::uint64_t parse_whole_in(const std::string& text, WholeRange range, const std::string& name) {
  std::uint64_t v = 0;
  const std::string problem = check_whole(text, range, v);
  if (!problem.empty()) throw InputError(name + " " + problem);
  return v;
}

double parse_real_in(const std::string& text, RealRange range, const std::string& name) {
  double v = 0;
  const std::string problem = check_real(text, range, v);
  if (!problem.empty()) throw InputError(name + " " + problem);
  return v;
}

CLI::Validator whole_flag(WholeRange range) {
  return CLI::Validator(
      [range](std::string& s) {
        std::uint64_t v = 0;
        std::string problem = check_whole(s, range, v);
        if (problem.empty()) s = std::to_string(v);  // "010" -> "10": CLI11 would read octal
        return problem;
      },
      describe(range));
}

CLI::Validator real_flag(RealRange range) {
  return CLI::Validator(
      [range](std::string& s) {
        double v = 0;
        std::string problem = check_real(s, range, v);
        if (problem.empty()) s = tg::exact_text(v);
        return problem;
      },
      describe(range));
}

}  // namespace charlm
