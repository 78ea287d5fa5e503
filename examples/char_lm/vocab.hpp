#pragma once
// The vocabulary: the sorted set of Unicode code points of a corpus, and the id of each.
#include <string>
#include <unordered_map>
#include <vector>

#include <xtensor/xarray.hpp>

namespace charlm {

class Vocabulary {
 public:
  Vocabulary() = default;
  explicit Vocabulary(const std::vector<char32_t>& text);  // every code point of the text, sorted
  std::size_t size() const { return chars_.size(); }
  char32_t symbol(std::size_t id) const { return chars_.at(id); }
  // Ids of a text; a code point outside the vocabulary is a std::invalid_argument naming it
  // and its position in `source`.
  std::vector<int> encode(const std::vector<char32_t>& text, const std::string& source) const;

  // "10,32,33,...": the code points in decimal, for checkpoint metadata; and back.
  std::string serialize() const;
  static Vocabulary deserialize(const std::string& s);  // std::invalid_argument if malformed

 private:
  std::vector<char32_t> chars_;
  std::unordered_map<char32_t, int> ids_;
};

}  // namespace charlm
