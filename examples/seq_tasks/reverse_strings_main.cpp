// reverse_strings: experiment 3 (an encoder-decoder reverses short strings) for rnn, lstm, gru.
// Writes <out>/reverse_strings.csv (the curves), reverse_strings_summary.csv and reverse_strings.svg.
#include <cstdio>

#include "common/cli.hpp"
#include "common/svg_plot.hpp"
#include "common/table.hpp"
#include "recurrent_factory.hpp"
#include "reverse_strings.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Experiment 3: an encoder-decoder learns to reverse strings (exact-match accuracy per cell)"};
  app.name("reverse_strings");
  tgex::CommonFlags flags;
  tgex::add_common_flags(app, flags);
  return tgex::run_main(app, flags, argc, argv, [&] {
    seqtasks::ReverseConfig c = flags.quick ? seqtasks::reduced_reverse_config() : seqtasks::ReverseConfig{};
    c.seed = flags.seed;
    std::printf("reverse_strings: alphabet %zu, lengths %zu-%zu, embed %zu, hidden %zu, batch %zu, %zu steps, "
                "Adam lr %g, clip %g, seed %llu\n",
                c.alphabet, c.min_length, c.max_length, c.embed, c.hidden, c.batch, c.steps, c.lr, c.clip,
                (unsigned long long)c.seed);
    tgex::Table curve({"cell", "step", "train_loss", "exact_match", "char_accuracy"});
    std::vector<std::string> header{"cell", "parameters", "exact_match", "char_accuracy", "baseline_exact_match",
                                    "ratio_to_baseline"};
    for (std::size_t len = c.min_length; len <= c.max_length; ++len) header.push_back("exact_len" + std::to_string(len));
    header.push_back("wall_seconds");
    header.push_back("cpu_seconds");
    tgex::Table summary(header);
    tgex::Chart accuracy{{"Reversing strings: exact match on 1000 fresh strings", "training step", "exact-match accuracy"}, {}};
    tgex::Chart loss{{"Training loss (teacher forcing)", "training step", "cross-entropy (nats/token)"}, {}};
    accuracy.options.y_min = 0.0;
    accuracy.options.y_max = 1.0;
    loss.options.log_y = true;
    double baseline = 0;
    for (const std::string& cell : seqtasks::all_cells()) {
      const seqtasks::ReverseResult r = seqtasks::run_reverse_strings(cell, c);
      tgex::Series acc{cell, {}, {}}, lossy{cell, {}, {}};
      acc.markers = true;
      for (const auto& p : r.curve) {
        curve.add({cell, p.step, p.train_loss, p.exact_match, p.char_accuracy});
        acc.x.push_back(double(p.step));
        acc.y.push_back(p.exact_match);
        lossy.x.push_back(double(p.step));
        lossy.y.push_back(p.train_loss);
      }
      accuracy.series.push_back(acc);
      loss.series.push_back(lossy);
      std::vector<tgex::Field> row{cell, r.parameters, r.exact_match, r.char_accuracy, r.baseline,
                                   r.baseline > 0 ? r.exact_match / r.baseline : 0.0};
      for (double a : r.exact_by_length) row.push_back(a);
      row.push_back(r.wall_seconds);
      row.push_back(r.cpu_seconds);
      summary.add(row);
      baseline = r.baseline;
      std::printf("%s: exact match %.3f, char accuracy %.3f (%.1f s CPU)\n", cell.c_str(), r.exact_match, r.char_accuracy,
                  r.cpu_seconds);
    }
    tgex::Series base{"most frequent string", {0.0, double(c.steps)}, {baseline, baseline}};
    base.dashed = true;
    base.color = "#777777";
    accuracy.series.push_back(base);
    curve.write_csv(flags.path("reverse_strings.csv"));
    summary.write_csv(flags.path("reverse_strings_summary.csv"));
    tgex::write_svg_panels(flags.path("reverse_strings.svg"), {accuracy, loss}, 2);
    summary.print();
    std::printf("wrote %s, %s, %s\n", flags.path("reverse_strings.csv").c_str(),
                flags.path("reverse_strings_summary.csv").c_str(), flags.path("reverse_strings.svg").c_str());
    return 0;
  });
}
