#pragma once
// The corpus: a UTF-8 text split into training and validation ids, and the batching protocol
// of the reference script (../shared/reference/pytorch_char_lm.py):
//   - the first (1 - F) of the code points train, the rest validate;
//   - the training split is cut into B contiguous streams of L = (n_train - 1) / B steps
//     (stream b starts at b * L), each cut into blocks of T steps; step i uses block
//     (i - 1) mod (L / T) of every stream, so the state is carried from block to block and
//     reset when the streams wrap around (a new epoch).
#include <cstdint>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

#include "vocab.hpp"

namespace charlm {

struct Corpus {
  std::string name;             // the file, or "built-in corpus"
  std::vector<char32_t> text;   // decoded
  std::uint64_t hash = 0;       // FNV-1a of the bytes: a resumed run must see the same corpus
};

// Reads and decodes a file: missing, unreadable or empty is an InputError, invalid UTF-8 a
// Utf8Error, each with a clear message (both exit code 2).
Corpus read_corpus(const std::string& path);
// The built-in default corpus (tinyshakespeare).
Corpus builtin_corpus();
std::uint64_t fnv1a(const std::string& bytes);
std::string hash_text(std::uint64_t hash);  // 16 hex digits

struct Split {
  std::vector<int> train, val;
};
// std::invalid_argument if F is not in (0, 1) or either part is too short to use.
Split split_corpus(const std::vector<int>& ids, double val_fraction);

class StreamBatcher {
 public:
  // std::invalid_argument if the training split is shorter than one block for every stream.
  StreamBatcher(const std::vector<int>& train, std::size_t batch, std::size_t block);
  std::size_t blocks_per_epoch() const { return blocks_; }
  // The block that training step `step` (1-based) uses: inputs and next-char targets, [T, B].
  void block(std::size_t step, xt::xarray<int>& x, xt::xarray<int>& y) const;
  // Whether step `step` starts a new epoch (the carried state is reset first).
  bool starts_epoch(std::size_t step) const { return (step - 1) % blocks_ == 0; }

 private:
  const std::vector<int>& train_;
  std::size_t batch_, block_, stream_len_, blocks_;
};

}  // namespace charlm
