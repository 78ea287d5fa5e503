#include "corpus.hpp"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "builtin_corpus.hpp"
#include "options.hpp"
#include "utf8.hpp"

namespace charlm {

std::uint64_t fnv1a(const std::string& bytes) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hash_text(std::uint64_t hash) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

namespace {
Corpus decode(const std::string& name, const std::string& bytes) {
  if (bytes.empty()) throw InputError(name + ": the corpus is empty");
  return Corpus{name, decode_utf8(bytes, name), fnv1a(bytes)};
}
}  // namespace

Corpus read_corpus(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open the corpus file");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError(path + ": read error");
  return decode(path, bytes);
}

Corpus builtin_corpus() { return decode("built-in corpus", std::string(builtin_corpus_bytes())); }

Split split_corpus(const std::vector<int>& ids, double f) {
  if (!(f > 0.0 && f < 1.0))
    throw std::invalid_argument("--val-fraction must be in (0, 1), got " + std::to_string(f));
  const std::size_t n_train = std::size_t(double(ids.size()) * (1.0 - f));
  if (ids.size() - n_train < 2)
    throw std::invalid_argument("the validation split has " + std::to_string(ids.size() - n_train) +
                                " characters; it needs at least 2 (a larger corpus or --val-fraction)");
  return Split{std::vector<int>(ids.begin(), ids.begin() + long(n_train)), std::vector<int>(ids.begin() + long(n_train), ids.end())};
}

StreamBatcher::StreamBatcher(const std::vector<int>& train, std::size_t batch, std::size_t block)
    : train_(train), batch_(batch), block_(block) {
  stream_len_ = train.size() > 1 ? (train.size() - 1) / batch : 0;
  blocks_ = stream_len_ / block;
  if (blocks_ == 0)
    throw std::invalid_argument("the training split has " + std::to_string(train.size()) + " characters: too short for " +
                                std::to_string(batch) + " streams of one " + std::to_string(block) +
                                "-step block each (it needs at least " + std::to_string(batch * block + 1) +
                                "); use a larger corpus or smaller --batch/--block");
}

void StreamBatcher::block(std::size_t step, xt::xarray<int>& x, xt::xarray<int>& y) const {
  const std::size_t j = (step - 1) % blocks_;
  x = xt::xarray<int>::from_shape({block_, batch_});
  y = xt::xarray<int>::from_shape({block_, batch_});
  for (std::size_t b = 0; b < batch_; ++b)
    for (std::size_t t = 0; t < block_; ++t) {
      const std::size_t at = b * stream_len_ + j * block_ + t;  // stream b, block j, step t
      x(t, b) = train_[at];
      y(t, b) = train_[at + 1];
    }
}

}  // namespace charlm
