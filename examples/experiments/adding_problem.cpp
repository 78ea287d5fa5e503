#include "adding_problem.hpp"

#include <stdexcept>

#include "common/svg_plot.hpp"

namespace tgexp {

const AddingProblemCell& AddingProblemResult::at(const std::string& cell, std::size_t length) const {
  for (const auto& r : runs)
    if (r.cell == cell && r.length == length) return r;
  throw std::invalid_argument("adding_problem: no run for cell '" + cell + "' at T=" + std::to_string(length));
}

AddingProblemResult run_adding_problem(const AddingProblemConfig& config, std::FILE* log) {
  AddingProblemResult result{config, {}};
  for (std::size_t length : config.lengths) {
    const std::size_t steps = config.tokens / (config.train.batch * length);  // the shared token budget
    if (steps == 0) throw std::invalid_argument("adding_problem: --tokens is less than one batch at T=" + std::to_string(length));
    for (const std::string& cell : config.cells) {
      AddingTrainConfig train = config.train;
      train.length = length;
      train.steps = steps;
      train.eval_every = config.evals ? std::max<std::size_t>(1, steps / config.evals) : 0;
      AddingProblemCell r{cell, length, steps, train_adding(cell, train)};
      if (log) {
        std::fprintf(log, "  T=%-4zu %-4s  %zu steps  test MSE %.4g%s  (%.1f s)\n", length, cell.c_str(), steps,
                     r.run.test_mse, r.run.diverged ? "  DIVERGED" : "", r.run.seconds);
        std::fflush(log);
      }
      result.runs.push_back(std::move(r));
    }
  }
  return result;
}

tgex::Table adding_problem_table(const AddingProblemResult& result) {
  std::vector<std::string> header = {"T", "steps"};
  for (const auto& cell : result.config.cells) header.push_back(cell + "_test_mse");
  header.push_back("baseline_mse");
  tgex::Table table(header);
  for (std::size_t length : result.config.lengths) {
    std::vector<tgex::Field> row = {length, result.at(result.config.cells.front(), length).steps};
    for (const auto& cell : result.config.cells) row.emplace_back(result.at(cell, length).run.test_mse);
    row.emplace_back(kAddingBaselineMse);
    table.add(row);
  }
  return table;
}

tgex::Table adding_problem_curves(const AddingProblemResult& result) {
  tgex::Table table({"cell", "T", "step", "tokens", "test_mse"});
  for (const auto& r : result.runs)
    for (std::size_t i = 0; i < r.run.eval_step.size(); ++i)
      table.add({r.cell, r.length, r.run.eval_step[i], r.run.eval_step[i] * result.config.train.batch * r.length,
                 r.run.eval_mse[i]});
  return table;
}

void plot_adding_problem(const AddingProblemResult& result, const std::string& svg_path) {
  std::vector<tgex::Chart> panels;
  for (std::size_t length : result.config.lengths) {
    tgex::Chart chart;
    chart.options.title = "adding problem, T=" + std::to_string(length);
    chart.options.x_label = "training tokens (millions)";
    chart.options.y_label = "test MSE";
    chart.options.log_y = true;
    chart.options.width = 480;
    chart.options.height = 340;
    chart.options.legend = tgex::ChartOptions::Legend::bottom_left;
    for (const auto& cell : result.config.cells) {
      const AddingRun& run = result.at(cell, length).run;
      tgex::Series s(cell);
      s.markers = true;
      for (std::size_t i = 0; i < run.eval_step.size(); ++i) {
        s.x.push_back(double(run.eval_step[i] * result.config.train.batch * length) / 1e6);
        s.y.push_back(run.eval_mse[i]);
      }
      chart.series.push_back(std::move(s));
    }
    tgex::Series baseline("predict the mean", {0, double(result.config.tokens) / 1e6},
                          {kAddingBaselineMse, kAddingBaselineMse});
    baseline.color = "#777";
    baseline.dashed = true;
    chart.series.push_back(std::move(baseline));
    panels.push_back(std::move(chart));
  }
  tgex::write_svg_panels(svg_path, panels, 2);
}

}  // namespace tgexp
