#include "vocab.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include <tapegrad/autograd/number_text.hpp>

#include "utf8.hpp"

namespace charlm {

Vocabulary::Vocabulary(const std::vector<char32_t>& text) : chars_(text) {
  std::sort(chars_.begin(), chars_.end());
  chars_.erase(std::unique(chars_.begin(), chars_.end()), chars_.end());
  for (std::size_t i = 0; i < chars_.size(); ++i) ids_[chars_[i]] = int(i);
}

std::vector<int> Vocabulary::encode(const std::vector<char32_t>& text, const std::string& source) const {
  std::vector<int> ids(text.size());
  std::size_t line = 1, column = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    ++column;
    const auto it = ids_.find(text[i]);
    if (it == ids_.end()) {
      std::string ch;
      append_utf8(ch, text[i]);
      throw std::invalid_argument(source + ": character '" + ch + "' (U+" + [&] {
        std::ostringstream os;
        os << std::hex << std::uppercase << unsigned(text[i]);
        return os.str();
      }() + ") at line " + std::to_string(line) + ", column " + std::to_string(column) +
                                  " is not in the model's vocabulary of " + std::to_string(size()) + " characters");
    }
    ids[i] = it->second;
    if (text[i] == U'\n') {
      ++line;
      column = 0;
    }
  }
  return ids;
}

std::string Vocabulary::serialize() const {
  std::string s;
  for (std::size_t i = 0; i < chars_.size(); ++i) s += (i ? "," : "") + std::to_string(unsigned(chars_[i]));
  return s;
}

Vocabulary Vocabulary::deserialize(const std::string& s) {
  // Strictly increasing Unicode scalar values in decimal, as serialize() writes them.
  std::vector<char32_t> cps;
  std::size_t begin = 0;
  while (begin <= s.size()) {
    const std::size_t end = std::min(s.find(',', begin), s.size());
    std::uint64_t v = 0;
    const std::string item = s.substr(begin, end - begin);
    if (!tg::parse_whole(item, v) || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
      throw std::invalid_argument("the vocabulary's entry " + std::to_string(cps.size() + 1) + " '" +
                                  tg::quote_input(item, 20) + "' is not a Unicode scalar value in decimal");
    if (!cps.empty() && char32_t(v) <= cps.back())
      throw std::invalid_argument("the vocabulary is not in increasing order at entry " + std::to_string(cps.size() + 1) +
                                  " (a repeated or out-of-order character)");
    cps.push_back(char32_t(v));
    begin = end + 1;
  }
  return Vocabulary(cps);
}

}  // namespace charlm
