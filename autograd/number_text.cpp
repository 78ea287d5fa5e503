#include <tapegrad/autograd/number_text.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

namespace tg {

std::string exact_text(double v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

bool parse_whole(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  std::uint64_t v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v, 10);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) return false;  // overflow
  out = v;
  return true;
}

bool parse_finite(std::string_view text, double& out) {
  if (text.empty()) return false;
  // from_chars reads "inf", "nan" and (with chars_format::hex only) hex floats; a finite decimal
  // is made of these characters alone, so anything else is refused before it is read.
  for (char c : text)
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+')) return false;
  const char* first = text.data() + (text[0] == '+' ? 1 : 0);
  double v = 0;
  const auto r = std::from_chars(first, text.data() + text.size(), v, std::chars_format::general);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

std::string quote_input(std::string_view text, std::size_t max_chars) {
  std::string out;
  std::size_t i = 0;
  for (; i < text.size() && out.size() < max_chars; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  if (i < text.size()) {
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();  // continuation
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();              // a lead byte
    out += "\xE2\x80\xA6";  // …
  }
  return out;
}

}  // namespace tg
