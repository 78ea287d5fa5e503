// key_recall: experiment 10 (single-key recall, truncated against full BPTT). Writes
// key_recall.csv (one row per D and method) and key_recall.svg, prints the table.
#include <cstdio>

#include "common/cli.hpp"
#include "key_recall.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Experiment 10: single-key recall, TBPTT against full BPTT with checkpointing"};
  tgex::CommonFlags flags;
  tgex::add_common_flags(app, flags);
  tgexp::KeyRecallConfig config;
  app.add_option("--distractors", config.distractors, "distractor counts D")->capture_default_str();
  app.add_option("--k", config.k, "TBPTT block and checkpoint segment length")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--steps", config.steps, "Adam steps per run")->check(CLI::Range(1, 10000000))->capture_default_str();
  app.add_option("--lr", config.lr, "Adam learning rate")->check(CLI::Range(1e-9, 100.0))->capture_default_str();
  app.add_option("--batch", config.batch, "sequences per step")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--keys", config.keys, "K, the number of keys (chance 1/K)")->check(CLI::Range(2, 100000))->capture_default_str();
  app.add_option("--distractor-tokens", config.distractor_tokens, "M, the distractor alphabet's size")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--embedding", config.embedding, "E")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--forget-biases", config.forget_biases, "the LSTM forget gate's initial biases (one set of runs each)")->capture_default_str();
  return tgex::run_main(app, flags, argc, argv, [&] {
    config.seed = flags.seed;
    if (flags.quick) config.distractors = {10, 60}, config.k = 20, config.forget_biases = {3.0}, config.steps = 600;
    const auto runs = tgexp::run_key_recall(config);
    tgexp::key_recall_table(config, runs).write_csv(flags.path("key_recall.csv"));
    tgexp::plot_key_recall(config, runs, flags.path("key_recall.svg"));
    std::printf("single-key recall, K=%zu keys (chance %.3f), M=%zu distractor tokens, LSTM H=%zu, "
                "Adam lr %g, B=%zu, %zu steps (%zu sequences) per run:\n",
                config.keys, 1.0 / double(config.keys), config.distractor_tokens, config.hidden_size, config.lr,
                config.batch, config.steps, config.steps * config.batch);
    tgexp::key_recall_table(config, runs).print(stdout, 3);
    std::printf("wrote %s and %s\n", flags.path("key_recall.csv").c_str(), flags.path("key_recall.svg").c_str());
    return 0;
  });
}
