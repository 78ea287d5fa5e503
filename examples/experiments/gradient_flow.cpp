#include "gradient_flow.hpp"

#include <cmath>
#include <stdexcept>

#include <xtensor/xview.hpp>

#include <tapegrad/tapegrad.hpp>

#include "cells.hpp"
#include "common/svg_plot.hpp"

namespace tgexp {
namespace {


// ||dL/dh_t|| for t = 0..T-1 of one freshly initialised cell on one batch of random inputs.
std::vector<double> measure_once(const std::string& cell_name, double scale, const GradientFlowConfig& c) {
  auto cell = make_cell(cell_name, c.input_size, c.hidden_size);
  cell->to(tg::kFloat64);
  scale_recurrent_weights(*cell, scale);
  const xt::xarray<double> inputs = tg::randn<double>({c.steps, c.batch, c.input_size});  // [T, B, I]
  xt::xarray<double> u = tg::randn<double>({c.batch, c.hidden_size});                    // [B, H]
  u /= std::sqrt(double(xt::sum(u * u)()));  // unit norm: ||dL/dh_T|| = 1

  tg::State state = cell->initial_state(c.batch);
  std::vector<tg::Tensor> hidden;  // h_t, t = 0..T-1, each [B, H]
  for (std::size_t t = 0; t < c.steps; ++t) {
    const xt::xarray<double> x_t = xt::view(inputs, t);  // [B, I]
    state = cell->forward(tg::Tensor::constant(x_t), state);
    state[0].retain_grad();
    hidden.push_back(state[0]);
  }
  tg::Tensor loss = tg::sum(state[0] * tg::Tensor::constant(u));  // L = <u, h_T>
  loss.backward();

  std::vector<double> norm(c.steps);
  for (std::size_t t = 0; t < c.steps; ++t) {
    const tg::Tensor g = hidden[t].grad();  // undefined if the loss did not depend on h_t: norm 0
    const double sq = g.defined() ? double(xt::sum(g.value<double>() * g.value<double>())()) : 0.0;
    norm[c.steps - 1 - t] = std::sqrt(sq);  // index = distance from the loss
  }
  return norm;
}

}  // namespace

const GradientFlowCurve& GradientFlowResult::curve(const std::string& cell, bool scaled) const {
  for (const auto& c : curves)
    if (c.cell == cell && (c.scale != 1) == scaled) return c;
  throw std::invalid_argument("gradient_flow: no curve for cell '" + cell + "'");
}

GradientFlowResult run_gradient_flow(const GradientFlowConfig& config) {
  if (config.steps < 2 || config.repeats < 1) throw std::invalid_argument("gradient_flow: need T >= 2 and repeats >= 1");
  GradientFlowResult result{config, {}};
  for (double scale : {1.0, config.explode_scale}) {
    for (const std::string& cell : cell_names()) {
      tg::manual_seed(config.seed);  // every cell sees the same inputs and direction u
      std::vector<double> log_sum(config.steps, 0.0);
      std::vector<bool> zero(config.steps, false);
      for (std::size_t r = 0; r < config.repeats; ++r) {
        const std::vector<double> norm = measure_once(cell, scale, config);
        for (std::size_t k = 0; k < config.steps; ++k) {
          if (norm[k] > 0) log_sum[k] += std::log(norm[k]);
          else zero[k] = true;  // an exact zero (underflow) makes the geometric mean zero
        }
      }
      GradientFlowCurve curve{cell, scale, std::vector<double>(config.steps)};
      for (std::size_t k = 0; k < config.steps; ++k)
        curve.norm[k] = zero[k] ? 0.0 : std::exp(log_sum[k] / double(config.repeats));
      result.curves.push_back(std::move(curve));
    }
  }
  return result;
}

tgex::Table gradient_flow_table(const GradientFlowResult& result, const std::vector<std::size_t>& distances) {
  std::vector<std::string> header = {"distance"};
  for (const auto& c : result.curves) header.push_back(c.scale == 1 ? c.cell : c.cell + "_scaled");
  tgex::Table table(header);
  for (std::size_t k : distances) {
    if (k >= result.config.steps) continue;
    std::vector<tgex::Field> row = {k};
    for (const auto& c : result.curves) row.emplace_back(c.norm[k]);
    table.add(row);
  }
  return table;
}

void plot_gradient_flow(const GradientFlowResult& result, const std::string& svg_path) {
  std::vector<tgex::Chart> panels(2);
  for (int scaled = 0; scaled < 2; ++scaled) {
    tgex::Chart& chart = panels[scaled];
    char title[128];
    if (scaled)
      std::snprintf(title, sizeof title, "W_hh scaled x%g (H=%zu)", result.config.explode_scale, result.config.hidden_size);
    else
      std::snprintf(title, sizeof title, "default (PyTorch) init (H=%zu)", result.config.hidden_size);
    chart.options.title = title;
    chart.options.x_label = "distance k from the loss (steps back)";
    chart.options.y_label = "||dL/dh_(T-k)||";
    chart.options.log_y = true;
    chart.options.legend = scaled ? tgex::ChartOptions::Legend::top_left : tgex::ChartOptions::Legend::bottom_left;
    for (const std::string& cell : cell_names()) {
      const GradientFlowCurve& c = result.curve(cell, scaled == 1);
      tgex::Series s(cell);
      for (std::size_t k = 0; k < c.norm.size(); ++k) {
        s.x.push_back(double(k));
        s.y.push_back(c.norm[k]);
      }
      chart.series.push_back(std::move(s));
    }
  }
  tgex::write_svg_panels(svg_path, panels, 2);
}

}  // namespace tgexp
