#pragma once
// Strict UTF-8: text <-> Unicode code points. Invalid input (bad or truncated sequences,
// overlong forms, surrogates, values past U+10FFFF, NUL bytes of binary files) is an error
// naming the byte offset, line and column.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace charlm {

// Thrown for invalid UTF-8; what() names the source, the byte offset, line and column.
class Utf8Error : public std::runtime_error {
 public:
  Utf8Error(const std::string& what, std::size_t offset) : std::runtime_error(what), offset_(offset) {}
  std::size_t offset() const { return offset_; }

 private:
  std::size_t offset_;
};

// `source` names the text in error messages (a file name, "--prime", ...).
std::vector<char32_t> decode_utf8(const std::string& bytes, const std::string& source);
void append_utf8(std::string& out, char32_t cp);
std::string encode_utf8(const std::vector<char32_t>& cps);

}  // namespace charlm
