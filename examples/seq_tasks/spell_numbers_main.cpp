// spell_numbers: experiment 5 (one to many): spell a digit's name from its one-hot, and a
// number's name (0..99) from a two-hot with 20 numbers held out. Writes <out>/spell_numbers.csv
// (curves), spell_numbers_summary.csv and spell_numbers.svg.
#include <cmath>
#include <cstdio>

#include "common/cli.hpp"
#include "common/svg_plot.hpp"
#include "common/table.hpp"
#include "recurrent_factory.hpp"
#include "spell_numbers.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Experiment 5: one to many, spell a digit's or a number's name from one input vector"};
  app.name("spell_numbers");
  tgex::CommonFlags flags;
  tgex::add_common_flags(app, flags);
  return tgex::run_main(app, flags, argc, argv, [&] {
    seqtasks::SpellConfig c = flags.quick ? seqtasks::reduced_spell_config() : seqtasks::SpellConfig{};
    c.seed = flags.seed;
    std::printf("spell_numbers: embed %zu, hidden %zu, full batch, digits %zu steps, numbers %zu steps (%zu held out), "
                "Adam lr %g, clip %g, seed %llu\n",
                c.embed, c.hidden, c.digit_steps, c.number_steps, c.held_out, c.lr, c.clip, (unsigned long long)c.seed);
    tgex::Table curve({"task", "cell", "step", "train_loss", "train_exact", "held_out_exact"});
    tgex::Table summary({"task", "cell", "parameters", "train_exact", "train_char", "held_out_exact", "held_out_char",
                         "baseline_exact", "steps_to_all_train", "wall_seconds", "cpu_seconds"});
    tgex::Chart digits{{"Digits (one-hot -> name): all 10 words", "training step", "exact-match accuracy"}, {}};
    tgex::Chart numbers{{"Numbers 0-99 (two-hot -> name): solid held out, dashed train", "training step",
                         "exact-match accuracy"}, {}};
    for (auto* chart : {&digits, &numbers}) chart->options.y_min = 0.0, chart->options.y_max = 1.0;
    std::size_t colour = 0;
    for (const std::string& cell : seqtasks::all_cells()) {
      for (auto task : {seqtasks::SpellTask::digits, seqtasks::SpellTask::numbers}) {
        const bool is_digits = task == seqtasks::SpellTask::digits;
        const std::string task_name = is_digits ? "digits" : "numbers";
        const seqtasks::SpellResult r = seqtasks::run_spell(cell, task, c);
        tgex::Series train{is_digits ? cell : cell + " train", {}, {}}, held{cell + " held out", {}, {}};
        train.color = held.color = tgex::palette_color(colour);
        train.dashed = !is_digits;
        train.markers = is_digits;
        held.markers = true;
        for (const auto& p : r.curve) {
          curve.add({task_name, cell, p.step, p.train_loss, p.train_exact, p.held_out_exact});
          train.x.push_back(double(p.step));
          train.y.push_back(p.train_exact);
          held.x.push_back(double(p.step));
          held.y.push_back(p.held_out_exact);
        }
        if (is_digits) {
          digits.series.push_back(train);
        } else {
          numbers.series.push_back(held);
          numbers.series.push_back(train);
        }
        summary.add({task_name, cell, r.parameters, r.train_exact, r.train_char, r.held_out_exact, r.held_out_char,
                     r.baseline, r.steps_to_all_train, r.wall_seconds, r.cpu_seconds});
        std::printf("%s, %s: train exact %.3f, held-out exact %.3f (%.1f s CPU)\n", task_name.c_str(), cell.c_str(),
                    r.train_exact, r.held_out_exact, r.cpu_seconds);
        for (const std::string& s : r.held_out_samples) std::printf("  %s\n", s.c_str());
      }
      ++colour;
    }
    curve.write_csv(flags.path("spell_numbers.csv"));
    summary.write_csv(flags.path("spell_numbers_summary.csv"));
    tgex::write_svg_panels(flags.path("spell_numbers.svg"), {digits, numbers}, 2);
    summary.print();
    std::printf("wrote %s, %s, %s\n", flags.path("spell_numbers.csv").c_str(),
                flags.path("spell_numbers_summary.csv").c_str(), flags.path("spell_numbers.svg").c_str());
    return 0;
  });
}
