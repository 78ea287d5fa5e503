#include "vocab.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

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
  std::vector<char32_t> cps;
  std::istringstream is(s);
  std::string item;
  while (std::getline(is, item, ',')) {
    std::size_t used = 0;
    unsigned long v = 0;
    try {
      v = std::stoul(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || v > 0x10FFFF)
      throw std::invalid_argument("the vocabulary '" + s.substr(0, 40) + "...' is malformed");
    cps.push_back(char32_t(v));
  }
  if (cps.empty()) throw std::invalid_argument("the vocabulary is empty");
  Vocabulary v(cps);
  if (v.size() != cps.size()) throw std::invalid_argument("the vocabulary repeats a character");
  return v;
}

}  // namespace charlm
