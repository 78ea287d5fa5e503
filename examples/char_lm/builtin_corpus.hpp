#pragma once
// The built-in default corpus: builtin_corpus.txt, tinyshakespeare (public domain; the same
// bytes as the benchmarks' copy, so its split and hash match), embedded in the binary.
#include <string_view>

namespace charlm {
std::string_view builtin_corpus_bytes();
}  // namespace charlm
