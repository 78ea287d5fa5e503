// Writes the checkpoint fuzzer's seed corpus: a valid checkpoint of the fuzzer's model.
#include <cstdio>
#include <filesystem>

#include "fuzz_model.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_checkpoint_seeds DIR\n");
    return 2;
  }
  std::filesystem::create_directories(argv[1]);
  fuzz::FuzzModel().save(std::string(argv[1]) + "/seed.safetensors");
  return 0;
}
