#include "builtin_corpus.hpp"

// The assembler copies the file into read-only data at build time (.incbin): no generated
// source, and a 1 MB corpus costs the compiler nothing. CHAR_LM_CORPUS is its absolute path.
__asm__(".pushsection .rodata\n"
        ".global charlm_builtin_corpus_begin\n"
        "charlm_builtin_corpus_begin:\n"
        ".incbin \"" CHAR_LM_CORPUS "\"\n"
        ".global charlm_builtin_corpus_end\n"
        "charlm_builtin_corpus_end:\n"
        ".popsection\n");

extern "C" const char charlm_builtin_corpus_begin[];
extern "C" const char charlm_builtin_corpus_end[];

namespace charlm {
std::string_view builtin_corpus_bytes() {
  return {charlm_builtin_corpus_begin, std::size_t(charlm_builtin_corpus_end - charlm_builtin_corpus_begin)};
}
}  // namespace charlm
