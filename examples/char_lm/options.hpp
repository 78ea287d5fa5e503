#pragma once
// The command-line options of char_lm's three subcommands, and the error type of bad input.
#include <set>
#include <stdexcept>
#include <string>

namespace charlm {

// Bad input or usage (exit code 2): flags, files, corpora, checkpoints.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An I/O or environment failure (exit code 4): a full disk, a write error, no memory.
class EnvironmentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Exit codes: 0 success, 1 internal errors only, 2 bad input or usage, 3 training (or eval
// --dynamic) diverged, 4 an I/O or environment failure; 128 + N when signal N stopped training
// (after its save).
enum ExitCode { kOk = 0, kFailure = 1, kBadInput = 2, kDiverged = 3, kEnvironment = 4, kSignalBase = 128 };

struct TrainOptions {
  std::string data;  // empty: the built-in corpus
  std::string cell = "lstm";
  std::size_t layers = 1, hidden = 256, embed = 64, batch = 32, block = 64, steps = 2000;
  std::string optim = "adam";
  double lr = 2e-3;
  std::string lr_schedule = "constant";
  std::size_t warmup = 0;
  double clip = 5.0;  // 0: no clipping (the norm is still checked for NaN/Inf)
  double dropout = 0.0;
  unsigned long long seed = 0;
  int threads = 1;
  double val_fraction = 0.1;
  std::size_t val_every = 500, save_every = 0, print_every = 50;
  std::string checkpoint = "char_lm.safetensors";
  bool keep_best = false, resume = false, overwrite = false, json = false;
  bool distributed = false;  // data-parallel over the ranks of mpirun (tapegrad::dist)
  std::string log;           // CSV; a loss-curve SVG is written beside it
  std::size_t max_seconds = 0;  // stop (and save) after this much training time; 0: no limit
  std::size_t recompute_every = 0;  // > 0: run each block as checkpointed segments of this many steps
  std::string preset;  // a named recipe (presets.hpp) filling in the flags not given
  std::set<std::string> given;  // the flags given on the command line (resume conflict check)
};

struct SampleOptions {
  std::string checkpoint = "char_lm.safetensors";
  std::size_t length = 500, top_k = 0, num_samples = 1;
  double temperature = 1.0, top_p = 1.0;
  std::string prime;
  unsigned long long seed = 0;
};

struct EvalOptions {
  std::string checkpoint = "char_lm.safetensors";
  std::string data;
  std::string part = "all";  // all | first-half | second-half of the evaluated text
  bool json = false;
  int threads = 1;
  // Dynamic evaluation (dynamic_eval.hpp); --dynamic-tune implies --dynamic.
  bool dynamic = false, dynamic_tune = false;
  double dynamic_lr = 5e-5, dynamic_decay = 0.001;
  std::size_t dynamic_block = 20, dynamic_stats = 65536;
  std::set<std::string> given;  // the flags given on the command line
};

int run_train(const TrainOptions& o);
int run_sample(const SampleOptions& o);
int run_eval(const EvalOptions& o);

}  // namespace charlm
