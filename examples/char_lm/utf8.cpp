#include "utf8.hpp"

namespace charlm {

std::vector<char32_t> decode_utf8(const std::string& bytes, const std::string& source) {
  std::vector<char32_t> out;
  out.reserve(bytes.size());
  std::size_t line = 1, line_start = 0;
  auto fail = [&](std::size_t at, const std::string& why) {
    throw Utf8Error(source + ": invalid UTF-8 at byte offset " + std::to_string(at) + " (line " +
                        std::to_string(line) + ", byte " + std::to_string(at - line_start + 1) +
                        " of the line): " + why,
                    at);
  };
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char b = s[i];
    if (b == 0) fail(i, "NUL byte (a binary file?)");
    if (b < 0x80) {  // ASCII
      out.push_back(b);
      if (b == '\n') {
        ++line;
        line_start = i + 1;
      }
      ++i;
      continue;
    }
    // Lead byte: how many continuation bytes, and the smallest code point that may use them.
    std::size_t extra = 0;
    char32_t cp = 0, min = 0;
    if ((b & 0xE0) == 0xC0) { extra = 1; cp = b & 0x1F; min = 0x80; }
    else if ((b & 0xF0) == 0xE0) { extra = 2; cp = b & 0x0F; min = 0x800; }
    else if ((b & 0xF8) == 0xF0) { extra = 3; cp = b & 0x07; min = 0x10000; }
    else fail(i, b < 0xC0 ? "a continuation byte without a lead byte" : "byte " + std::to_string(b) + " never occurs in UTF-8");
    if (i + extra >= n) fail(i, "the text ends inside a multi-byte character");
    for (std::size_t k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) fail(i + k, "a multi-byte character is cut short");
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min) fail(i, "overlong encoding");
    if (cp >= 0xD800 && cp <= 0xDFFF) fail(i, "UTF-16 surrogate");
    if (cp > 0x10FFFF) fail(i, "code point past U+10FFFF");
    out.push_back(cp);
    i += extra + 1;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

std::string encode_utf8(const std::vector<char32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) append_utf8(out, cp);
  return out;
}

}  // namespace charlm
