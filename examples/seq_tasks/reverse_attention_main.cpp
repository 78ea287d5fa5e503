// reverse_attention: experiment 9 (attention and sequence length). Trains the encoder-decoder
// without and then with attention on the same data and writes <out>/reverse_attention.csv
// (accuracy by length bucket), reverse_attention_curve.csv, reverse_attention.svg and
// reverse_attention_weights.svg (the attention map of the longest evaluation string).
#include <cstdio>

#include "common/cli.hpp"
#include "common/svg_heatmap.hpp"
#include "common/svg_plot.hpp"
#include "common/table.hpp"
#include "reverse_attention.hpp"

namespace {

std::string letters(const seqtasks::Tokens& tokens) {
  std::string s;
  for (int t : tokens) s += char('a' + t - 1);
  return s;
}

// The attention map: one row per decoder step (labelled with the letter it emitted, then the
// end symbol), one column per source letter.
tgex::Heatmap attention_map(const seqtasks::AttentionLengthResult& r) {
  tgex::Heatmap map;
  map.title = "Attention of each decoder step over the source (" + std::to_string(r.example_source.size()) + " letters)";
  map.x_label = "source position (letter)";
  map.y_label = "decoder step (letter emitted)";
  map.values = r.example_weights;
  for (std::size_t s = 0; s < r.example_source.size(); ++s)
    map.column_labels.push_back(std::string(1, char('a' + r.example_source[s] - 1)));
  for (std::size_t t = 0; t < r.example_weights.size(); ++t)
    map.row_labels.push_back(t < r.example_output.size() ? std::string(1, char('a' + r.example_output[t] - 1)) : "end");
  return map;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Experiment 9: string reversal at lengths 5-60 by an encoder-decoder with and without attention"};
  app.name("reverse_attention");
  tgex::CommonFlags flags;
  tgex::add_common_flags(app, flags);
  return tgex::run_main(app, flags, argc, argv, [&] {
    seqtasks::AttentionLengthConfig c =
        flags.quick ? seqtasks::reduced_attention_length_config() : seqtasks::AttentionLengthConfig{};
    c.seed = flags.seed;
    std::printf("reverse_attention: alphabet %zu, lengths %zu-%zu, embed %zu, hidden %zu, batch %zu, %zu steps, "
                "Adam lr %g, clip %g, seed %llu\n",
                c.alphabet, c.min_length, c.max_length, c.embed, c.hidden, c.batch, c.steps, c.lr, c.clip,
                (unsigned long long)c.seed);
    tgex::Table buckets({"model", "min_length", "max_length", "strings", "exact_match", "token_accuracy"});
    tgex::Table curve({"model", "step", "train_loss", "token_accuracy"});
    tgex::Chart token{{"Token accuracy by length (" + std::to_string(c.eval_strings) + " fresh strings)",
                       "string length (bucket middle)", "token accuracy"}, {}};
    tgex::Chart exact{{"Exact match by length", "string length (bucket middle)", "exact-match accuracy"}, {}};
    tgex::Chart loss{{"Training loss (teacher forcing)", "training step", "cross-entropy (nats/token)"}, {}};
    for (tgex::Chart* chart : {&token, &exact}) chart->options.y_min = 0.0, chart->options.y_max = 1.25;  // room for the legend
    loss.options.log_y = true;
    seqtasks::AttentionLengthResult with;
    for (bool attention : {false, true}) {
      const seqtasks::AttentionLengthResult r = seqtasks::run_reverse_attention(attention, c);
      const std::string name = attention ? "attention" : "no attention";
      tgex::Series tok{name}, ex{name}, lo{name};
      tok.markers = ex.markers = true;
      for (const auto& b : r.buckets) {
        buckets.add({name, b.min_length, b.max_length, b.strings, b.exact_match, b.token_accuracy});
        tok.x.push_back(0.5 * double(b.min_length + b.max_length));
        tok.y.push_back(b.token_accuracy);
        ex.x.push_back(tok.x.back());
        ex.y.push_back(b.exact_match);
      }
      for (std::size_t i = 0; i < r.curve_steps.size(); ++i) {
        curve.add({name, r.curve_steps[i], r.curve_loss[i], r.curve_accuracy[i]});
        lo.x.push_back(double(r.curve_steps[i]));
        lo.y.push_back(r.curve_loss[i]);
      }
      token.series.push_back(tok);
      exact.series.push_back(ex);
      loss.series.push_back(lo);
      std::printf("%s: %zu parameters, exact match %.3f, token accuracy %.3f (%.1f s CPU, %.1f s wall)\n", name.c_str(),
                  r.parameters, r.exact_match, r.token_accuracy, r.cpu_seconds, r.wall_seconds);
      std::printf("  longest string %s\n  reversed as    %s\n", letters(r.example_source).c_str(),
                  letters(r.example_output).c_str());
      if (attention) with = r;
    }
    tgex::Series chance{"chance (1 / alphabet)", {double(c.min_length), double(c.max_length)},
                        {1.0 / double(c.alphabet), 1.0 / double(c.alphabet)}};
    chance.dashed = true;
    chance.color = "#777777";
    token.series.push_back(chance);
    buckets.write_csv(flags.path("reverse_attention.csv"));
    curve.write_csv(flags.path("reverse_attention_curve.csv"));
    tgex::write_svg_panels(flags.path("reverse_attention.svg"), {token, exact, loss}, 3);
    tgex::write_heatmap(flags.path("reverse_attention_weights.svg"), attention_map(with));
    buckets.print();
    std::printf("wrote %s, %s, %s, %s\n", flags.path("reverse_attention.csv").c_str(),
                flags.path("reverse_attention_curve.csv").c_str(), flags.path("reverse_attention.svg").c_str(),
                flags.path("reverse_attention_weights.svg").c_str());
    return 0;
  });
}
