#pragma once
// The flags every experiment shares (--out, --seed, --quick, --threads) and a main() wrapper
// that turns bad input into a one-line message and exit code 2.
#include <cstdint>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace tgex {

struct CommonFlags {
  std::string out_dir = "docs/experiments";  // where <name>.csv and <name>.svg go
  std::uint64_t seed = 0;
  bool quick = false;   // the reduced version (the one ctest runs)
  int threads = 1;      // BLAS threads
  // out_dir + "/" + file
  std::string path(const std::string& file) const;
};

void add_common_flags(CLI::App& app, CommonFlags& flags);

// Parses argv, creates flags.out_dir, sets the thread count and calls run(). Returns run()'s
// code; 2 for a parse error or std::invalid_argument (message on stderr), 0 for --help,
// 1 for any other exception.
int run_main(CLI::App& app, CommonFlags& flags, int argc, char** argv, const std::function<int()>& run);

}  // namespace tgex
