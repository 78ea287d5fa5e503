#pragma once
// The built-in default corpus: builtin_corpus.txt (a fixed snapshot of tapegrad's own
// sources, taken once, so the README's demo output stays reproducible), embedded at build time.
#include <cstddef>

namespace charlm {
extern const char kBuiltinCorpus[];
extern const std::size_t kBuiltinCorpusSize;
}  // namespace charlm
