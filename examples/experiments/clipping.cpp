#include "clipping.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/svg_plot.hpp"

namespace tgexp {
namespace {

// The mean of the last `n` finite training losses (NaN if there are none).
double final_loss(const AddingRun& run, std::size_t n) {
  double sum = 0;
  std::size_t count = 0;
  for (std::size_t i = run.train_loss.size(); i-- > 0 && count < n;)
    if (std::isfinite(run.train_loss[i])) sum += run.train_loss[i], ++count;
  return count ? sum / double(count) : std::numeric_limits<double>::quiet_NaN();
}

double largest(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::isfinite(x) ? x : std::numeric_limits<double>::infinity());
  return m;
}

}  // namespace

ClippingResult run_clipping(const ClippingConfig& config) {
  ClippingResult result{config, {}, {}};
  AddingTrainConfig train = config.train;
  train.clip = std::numeric_limits<double>::infinity();  // the norm is measured, never clipped
  result.unclipped = train_adding(config.cell, train);
  train.clip = config.max_norm;
  result.clipped = train_adding(config.cell, train);
  return result;
}

tgex::Table clipping_curves(const ClippingResult& result) {
  tgex::Table table({"step", "loss_unclipped", "grad_norm_unclipped", "loss_clipped", "grad_norm_clipped"});
  auto at = [](const std::vector<double>& v, std::size_t i) { return i < v.size() ? tgex::Field(v[i]) : tgex::Field(""); };
  const std::size_t n = std::max(result.unclipped.train_loss.size(), result.clipped.train_loss.size());
  for (std::size_t i = 0; i < n; ++i)
    table.add({i + 1, at(result.unclipped.train_loss, i), at(result.unclipped.grad_norm, i),
               at(result.clipped.train_loss, i), at(result.clipped.grad_norm, i)});
  return table;
}

tgex::Table clipping_summary(const ClippingResult& result) {
  tgex::Table table({"run", "steps_done", "diverged", "median_grad_norm", "max_grad_norm", "last100_train_loss", "test_mse"});
  auto add = [&](const char* name, const AddingRun& run) {
    std::vector<double> sorted = run.grad_norm;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted.empty() ? 0 : sorted[sorted.size() / 2];
    table.add({name, run.train_loss.size(), run.diverged ? "yes" : "no", median, largest(run.grad_norm),
               final_loss(run, 100), run.test_mse});
  };
  add("no clipping", result.unclipped);
  char name[64];
  std::snprintf(name, sizeof name, "clip norm %g", result.config.max_norm);
  add(name, result.clipped);
  return table;
}

void plot_clipping(const ClippingResult& result, const std::string& svg_path) {
  char clip_name[64];
  std::snprintf(clip_name, sizeof clip_name, "clip norm %g", result.config.max_norm);
  auto series = [](const char* name, const std::vector<double>& v, const char* color) {
    tgex::Series s(name);
    s.color = color;
    s.width = 1;
    for (std::size_t i = 0; i < v.size(); ++i) s.x.push_back(double(i + 1)), s.y.push_back(v[i]);
    return s;
  };
  const auto& c = result.config;
  char subtitle[160];
  std::snprintf(subtitle, sizeof subtitle, "%s, W_hh x%g, adding T=%zu, SGD lr %g", c.cell.c_str(),
                c.train.recurrent_scale, c.train.length, c.train.lr);
  tgex::Chart loss, norm;
  loss.options.title = std::string("training loss (") + subtitle + ")";
  loss.options.x_label = norm.options.x_label = "step";
  loss.options.y_label = "batch MSE";
  norm.options.title = "gradient norm before clipping";
  norm.options.y_label = "||g||";
  loss.options.log_y = norm.options.log_y = true;
  loss.series = {series("no clipping", result.unclipped.train_loss, "#d62728"),
                 series(clip_name, result.clipped.train_loss, "#1f77b4")};
  norm.series = {series("no clipping", result.unclipped.grad_norm, "#d62728"),
                 series(clip_name, result.clipped.grad_norm, "#1f77b4")};
  tgex::write_svg_panels(svg_path, {loss, norm}, 2);
}

}  // namespace tgexp
