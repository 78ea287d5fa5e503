// classify_lengths: experiment 4 (does a string of length 5-50 contain "abc"?), every cell with
// and without the SequenceMask. Writes <out>/classify_lengths.csv (curves),
// classify_lengths_summary.csv and classify_lengths.svg.
#include <cstdio>

#include "classify_lengths.hpp"
#include "common/cli.hpp"
#include "common/svg_plot.hpp"
#include "common/table.hpp"
#include "recurrent_factory.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Experiment 4: classify variable-length strings (lengths 5-50 in one batch), with and without masks"};
  app.name("classify_lengths");
  tgex::CommonFlags flags;
  tgex::add_common_flags(app, flags);
  return tgex::run_main(app, flags, argc, argv, [&] {
    seqtasks::ClassifyConfig c = flags.quick ? seqtasks::reduced_classify_config() : seqtasks::ClassifyConfig{};
    c.seed = flags.seed;
    std::printf("classify_lengths: lengths %zu-%zu, embed %zu, hidden %zu, batch %zu, %zu steps, Adam lr %g, "
                "clip %g, seed %llu\n",
                c.min_length, c.max_length, c.embed, c.hidden, c.batch, c.steps, c.lr, c.clip,
                (unsigned long long)c.seed);
    const auto bins = seqtasks::classify_length_bins(c);
    tgex::Table curve({"cell", "mask", "step", "train_loss", "accuracy"});
    std::vector<std::string> header{"cell", "mask", "parameters", "accuracy", "majority_baseline"};
    for (const auto& [lo, hi] : bins) header.push_back("accuracy_len" + std::to_string(lo) + "_" + std::to_string(hi));
    header.push_back("wall_seconds");
    header.push_back("cpu_seconds");
    tgex::Table summary(header);
    tgex::Chart chart{{"Contains \"abc\"? Accuracy on fresh strings of lengths 5-50", "training step", "accuracy"}, {}};
    chart.options.y_min = 0.4;
    chart.options.y_max = 1.0;
    double majority = 0;
    std::size_t colour = 0;
    for (const std::string& cell : seqtasks::all_cells()) {
      for (bool masked : {true, false}) {
        const seqtasks::ClassifyResult r = seqtasks::run_classify_lengths(cell, masked, c);
        const std::string mask_name = masked ? "mask" : "no mask";
        tgex::Series s{cell + ", " + mask_name, {}, {}};
        s.color = tgex::palette_color(colour);
        s.dashed = !masked;
        s.markers = masked;
        for (const auto& p : r.curve) {
          curve.add({cell, mask_name, p.step, p.train_loss, p.accuracy});
          s.x.push_back(double(p.step));
          s.y.push_back(p.accuracy);
        }
        chart.series.push_back(s);
        std::vector<tgex::Field> row{cell, mask_name, r.parameters, r.accuracy, r.majority_baseline};
        for (double a : r.accuracy_by_length_bin) row.push_back(a);
        row.push_back(r.wall_seconds);
        row.push_back(r.cpu_seconds);
        summary.add(row);
        majority = r.majority_baseline;
        std::printf("%s, %s: accuracy %.3f (%.1f s CPU)\n", cell.c_str(), mask_name.c_str(), r.accuracy, r.cpu_seconds);
      }
      ++colour;
    }
    tgex::Series base{"majority class", {0.0, double(c.steps)}, {majority, majority}};
    base.dashed = true;
    base.color = "#777777";
    chart.series.push_back(base);
    curve.write_csv(flags.path("classify_lengths.csv"));
    summary.write_csv(flags.path("classify_lengths_summary.csv"));
    tgex::write_svg(flags.path("classify_lengths.svg"), chart);
    summary.print();
    std::printf("wrote %s, %s, %s\n", flags.path("classify_lengths.csv").c_str(),
                flags.path("classify_lengths_summary.csv").c_str(), flags.path("classify_lengths.svg").c_str());
    return 0;
  });
}
