// The RNN experiments (examples/experiments, docs/experiments.md) in reduced form: each asserts
// the qualitative result as a ratio, under one budget shared by every cell. Plus the shared
// plotting and table code of examples/common.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "adding_problem.hpp"
#include "clipping.hpp"
#include "common/svg_plot.hpp"
#include "common/table.hpp"
#include "forecasting.hpp"
#include "gradient_flow.hpp"
#include "key_recall.hpp"
#include "temp_files.hpp"

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("svg plot: zeros on a log axis are drawn on a 0 row and not dropped") {
  tgex::Chart chart;
  chart.options.log_y = true;
  tgex::Series s("norm", {0, 1, 2, 3}, {1.0, 1e-3, 0.0, 1e-5});
  chart.series = {s};
  const std::string svg = tgex::render_svg({chart});
  CHECK(svg.find(">0</text>") != std::string::npos);  // the "0" row's label
  CHECK(count(svg, "<circle") == 1);                   // the one zero, marked
  CHECK(count(svg, "<polyline") == 2);                 // the line breaks at the zero
  chart.options.log_y = false;
  const std::string linear = tgex::render_svg({chart});
  CHECK(count(linear, "<circle") == 0);
  CHECK(count(linear, "<polyline") == 1);
}

TEST_CASE("svg plot: a series with unequal x and y is rejected") {
  tgex::Chart chart;
  chart.series = {tgex::Series("bad", {0, 1}, {1})};
  CHECK_THROWS_AS(tgex::render_svg({chart}), std::invalid_argument);
}

TEST_CASE("table: CSV keeps full precision and quotes commas - Markdown aligns") {
  tgex::Table table({"name", "value"});
  table.add({"a,b", 0.1234567891});
  table.add({"c", 42});
  CHECK_THROWS_AS(table.add({"too few"}), std::invalid_argument);
  tgtest::TempDir dir;
  const std::string path = dir.file("t.csv");
  table.write_csv(path);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == "name,value\n\"a,b\",0.1234567891\nc,42\n");
  CHECK(table.markdown(3).find("| a,b  | 0.123 |") != std::string::npos);
}

TEST_SUITE("heavy") {
  TEST_CASE("experiment 1: at distance 50 the GRU keeps 100x and the LSTM 10x the RNN gradient and scaled W_hh explodes the RNN") {
    const tgexp::GradientFlowConfig config;  // the full experiment: it takes well under a second
    const tgexp::GradientFlowResult r = tgexp::run_gradient_flow(config);
    for (const auto& curve : r.curves) CHECK(curve.norm[0] == doctest::Approx(1.0).epsilon(1e-9));  // ||u|| = 1
    const double rnn = r.curve("rnn", false).norm[50], lstm = r.curve("lstm", false).norm[50],
                 gru = r.curve("gru", false).norm[50];
    MESSAGE("distance 50, default init: rnn " << rnn << "  lstm " << lstm << "  gru " << gru);
    CHECK(rnn < 1e-6);  // vanishes
    CHECK(lstm >= 10 * rnn);  // measured 394x over 5 inits, but only 26x over 2: see docs/experiments.md
    CHECK(gru >= 100 * rnn);
    const double rnn_x = r.curve("rnn", true).norm[50], lstm_x = r.curve("lstm", true).norm[50],
                 gru_x = r.curve("gru", true).norm[50];
    MESSAGE("distance 50, W_hh x" << config.explode_scale << ": rnn " << rnn_x << "  lstm " << lstm_x << "  gru " << gru_x);
    CHECK(rnn_x >= 100);  // explodes: grows with distance
    CHECK(lstm_x < rnn_x / 1000);
    CHECK(gru_x < rnn_x / 1000);
  }

  TEST_CASE("experiment 2: adding problem at T=50 - LSTM and GRU beat the mean baseline 4x and the RNN does not") {
    tgexp::AddingProblemConfig config;
    config.lengths = {50};
    config.tokens = 4'800'000;  // 3000 steps of B=32, the same for every cell (the CLI's --quick)
    config.evals = 0;
    const tgexp::AddingProblemResult r = tgexp::run_adding_problem(config);
    const double base = tgexp::kAddingBaselineMse, rnn = r.at("rnn", 50).run.test_mse,
                 lstm = r.at("lstm", 50).run.test_mse, gru = r.at("gru", 50).run.test_mse;
    MESSAGE("test MSE at T=50: rnn " << rnn << "  lstm " << lstm << "  gru " << gru << "  baseline " << base);
    CHECK(lstm < base / 4);
    CHECK(gru < base / 4);
    CHECK(rnn > base / 2);
  }

  TEST_CASE("experiment 7: without clipping the exploding RNN diverges - with clipping it stays finite and learns") {
    tgexp::ClippingConfig config;
    config.train.steps = 600;  // the CLI's --quick
    const tgexp::ClippingResult r = tgexp::run_clipping(config);
    MESSAGE("unclipped: diverged " << r.unclipped.diverged << " at step " << r.unclipped.diverged_at);
    CHECK(r.unclipped.diverged);
    REQUIRE_FALSE(r.clipped.diverged);
    REQUIRE(r.clipped.train_loss.size() == 600);
    // Mean batch MSE of steps 1-20 against the best 20-step window. Clipped training of this
    // exploding RNN is chaotic (its loss can rise again; the window where it learns moves with
    // the seed and the last bit of rounding), so the test asks that it got below half, not when.
    auto window = [&](std::size_t at) {
      double mean = 0;
      for (std::size_t i = at; i < at + 20; ++i) mean += r.clipped.train_loss[i] / 20;
      return mean;
    };
    const double first = window(0);
    double best = first;
    for (std::size_t at = 1; at + 20 <= 600; ++at) best = std::min(best, window(at));
    MESSAGE("clipped: mean loss of steps 1-20 " << first << ", of the best 20 steps " << best);
    CHECK(best < first / 2);
    CHECK(std::isfinite(r.clipped.test_mse));
  }

  TEST_CASE("experiment 10: key recall at D=60 - full BPTT with checkpointing learns it and TBPTT k=20 does not") {
    tgexp::KeyRecallConfig config;  // the CLI's --quick
    config.distractors = {10, 60};
    config.k = 20;
    config.forget_biases = {3.0};  // at bias 1 the gradient vanishes inside the LSTM by D = 60 (docs/experiments.md)
    config.steps = 600;
    const std::vector<tgexp::KeyRecallRun> runs = tgexp::run_key_recall(config);
    REQUIRE(runs.size() == 4);  // D = 10 then 60, truncated then full
    for (const auto& r : runs)
      MESSAGE("D=" << r.distractors << std::string(r.backprop == tgexp::Backprop::full ? " full" : " truncated") << ": accuracy "
                   << r.accuracy << ", peak " << r.peak_bytes / 1024 << " KiB, tape after forward " << r.graph_bytes / 1024 << " KiB");
    // D = 10: the 12 steps fit in one block, so truncation cuts nothing and both learn.
    CHECK(runs[0].accuracy > 0.9);
    CHECK(runs[1].accuracy > 0.9);
    // D = 60: only the untruncated gradient reaches the key 61 steps back.
    const double truncated = runs[2].accuracy, full = runs[3].accuracy;
    CHECK(full > 0.8);                   // measured 1.0 at seeds 0 and 1
    CHECK(truncated < 0.4);  // measured 0.14 at seed 0 and 0.33 at seed 1 (what the initial LSTM carries, docs/experiments.md)
    CHECK(full > truncated + 0.5);
    // Full BPTT keeps only the segment boundaries between forward and backward.
    CHECK(runs[3].graph_bytes * 10 < runs[2].graph_bytes);
  }

  TEST_CASE("experiment 8: RNN and LSTM and GRU forecast the next value 3x better than the last value") {
    tgexp::ForecastConfig config;
    config.steps = 300;
    const tgexp::ForecastResult r = tgexp::run_forecasting(config);
    for (std::size_t i = 0; i < config.cells.size(); ++i) {
      MESSAGE(config.cells[i] << " test MSE " << r.test_mse[i] << "  naive " << r.naive_mse);
      CHECK(r.test_mse[i] < r.naive_mse / 3);
      CHECK(r.test_mse[i] > config.noise * config.noise / 2);  // never below the noise floor
    }
  }
}
