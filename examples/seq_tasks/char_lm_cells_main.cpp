// char_lm_cells: experiment 6, RNN vs LSTM vs GRU on the char LM at one token budget, and the
// TBPTT block length T in {8, 32, 128} (batch x block constant), by running `char_lm train`.
// Writes <out>/char_lm_cells.csv (one row per run), char_lm_cells_curves.csv and char_lm_cells.svg.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "char_lm_cells.hpp"
#include "common/cli.hpp"
#include "common/svg_plot.hpp"
#include "common/table.hpp"

namespace {

// tinyshakespeare from the shared data folder when present, else the built-in corpus' text.
std::string default_data() {
  const std::string shared = std::string(SEQ_TASKS_DATA_DIR) + "/tinyshakespeare.txt";
  const std::string path = std::ifstream(shared).good() ? shared : std::string(SEQ_TASKS_BUILTIN_CORPUS);
  return std::filesystem::weakly_canonical(path).string();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Experiment 6: rnn vs lstm vs gru on the char LM, and the TBPTT block length (runs char_lm)"};
  app.name("char_lm_cells");
  tgex::CommonFlags flags;
  tgex::add_common_flags(app, flags);
  seqtasks::CharLmConfig c;
  c.char_lm = SEQ_TASKS_CHAR_LM;
  c.data = default_data();
  std::size_t steps = 0;
  app.add_option("--data", c.data, "UTF-8 text (default: tinyshakespeare from the shared data, else the built-in corpus)")
      ->capture_default_str();
  app.add_option("--char-lm", c.char_lm, "the char_lm binary")->capture_default_str();
  app.add_option("--steps", steps, "training steps of every run (default 1000; --quick 150)");
  return tgex::run_main(app, flags, argc, argv, [&] {
    if (!std::ifstream(c.data).good()) throw std::invalid_argument("--data " + c.data + ": cannot read the file");
    if (flags.quick) {  // the reduced version: a small model, the cell comparison only
      c.steps = 150, c.hidden = 64, c.embed = 16, c.tokens_per_step = 512, c.val_every = 50;
      c.blocks = {c.cell_block};
    }
    if (steps) c.steps = steps;
    c.seed = flags.seed;
    c.threads = flags.threads;
    c.work_dir = (std::filesystem::temp_directory_path() / ("char_lm_cells." + std::to_string(getpid()))).string();
    const double unigram = seqtasks::unigram_bits_per_char(c.data);
    std::printf("char_lm_cells: %s, %zu steps x %zu tokens per run, hidden %zu, embed %zu, Adam lr %g, clip %g, "
                "seed %llu, %d thread(s); unigram baseline %.4f bits/char\n",
                c.data.c_str(), c.steps, c.tokens_per_step, c.hidden, c.embed, c.lr, c.clip,
                (unsigned long long)c.seed, c.threads, unigram);
    tgex::Table runs({"cell", "block", "batch", "parameters", "tokens", "val_bpc", "unigram_bpc", "tokens_per_s",
                      "train_seconds", "wall_seconds", "cpu_seconds"});
    tgex::Table curves({"cell", "block", "tokens", "val_bpc"});
    tgex::Chart cells{{"Cells at block " + std::to_string(c.cell_block) + ": validation bits/char",
                       "training tokens (millions)", "bits per character"}, {}};
    tgex::Chart blocks{{c.block_cell + ", batch x block = " + std::to_string(c.tokens_per_step) +
                            ": validation bits/char",
                        "training tokens (millions)", "bits per character"}, {}};
    std::size_t colour = 0;
    for (const seqtasks::CharLmRun& run : seqtasks::char_lm_runs(c)) {
      std::printf("running char_lm: %s, block %zu, batch %zu ...\n", run.cell.c_str(), run.block, run.batch);
      std::fflush(stdout);
      const seqtasks::CharLmOutcome o = seqtasks::run_char_lm(c, run);
      runs.add({run.cell, run.block, run.batch, o.parameters, o.tokens, o.val_bpc, unigram, o.tokens_per_s,
                o.train_seconds, o.wall_seconds, o.cpu_seconds});
      tgex::Series s{run.cell + " T=" + std::to_string(run.block), {}, {}};
      s.color = tgex::palette_color(colour++);
      s.markers = true;
      for (const auto& [tokens, bpc] : o.val_curve) {
        curves.add({run.cell, run.block, tokens, bpc});
        s.x.push_back(double(tokens) * 1e-6);
        s.y.push_back(bpc);
      }
      if (run.block == c.cell_block) cells.series.push_back(s);
      if (run.cell == c.block_cell) blocks.series.push_back(s);
      std::printf("  %zu parameters, validation %.4f bits/char, %.0f tokens/s, %.1f s training, %.1f s wall, %.1f s CPU\n",
                  o.parameters, o.val_bpc, o.tokens_per_s, o.train_seconds, o.wall_seconds, o.cpu_seconds);
    }
    for (auto* chart : {&cells, &blocks}) chart->options.x_min = 0.0;  // the unigram baseline is in the table
    std::filesystem::remove_all(c.work_dir);
    runs.write_csv(flags.path("char_lm_cells.csv"));
    curves.write_csv(flags.path("char_lm_cells_curves.csv"));
    tgex::write_svg_panels(flags.path("char_lm_cells.svg"), {cells, blocks}, 2);
    runs.print();
    std::printf("wrote %s, %s, %s\n", flags.path("char_lm_cells.csv").c_str(),
                flags.path("char_lm_cells_curves.csv").c_str(), flags.path("char_lm_cells.svg").c_str());
    return 0;
  });
}
