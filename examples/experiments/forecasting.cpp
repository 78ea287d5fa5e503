#include "forecasting.hpp"

#include <cmath>
#include <memory>
#include <stdexcept>

#include <tapegrad/tapegrad.hpp>

#include "cells.hpp"
#include "common/svg_plot.hpp"

namespace tgexp {
namespace {

using tg::Tensor;
constexpr double kPi = 3.14159265358979323846;

struct ForecastModel {
  std::unique_ptr<tg::Cell> cell;
  tg::Linear head;
  ForecastModel(const std::string& name, std::size_t hidden) : cell(make_cell(name, 1, hidden)), head(hidden, 1) {}
  // x [T*B, 1] (time-major rows) -> one forecast per row [T*B, 1]
  Tensor forward(const xt::xarray<float>& x, std::size_t steps, std::size_t batch) const {
    const tg::SequenceRun run = tg::run_cell(*cell, Tensor::constant(x), steps, cell->initial_state(batch));
    return head(run.outputs);  // [T*B, H] -> [T*B, 1]
  }
};

double mean_squared(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += (a[i] - b[i]) * (a[i] - b[i]);
  return sum / double(a.size());
}

}  // namespace

std::vector<double> make_signal(std::size_t length, double noise) {
  const double period[] = {20.0, 7.3, 53.0}, amplitude[] = {1.0, 0.5, 0.3};
  double phase[3];
  for (double& p : phase) p = 2 * kPi * tg::uniform01();
  std::vector<double> s(length);
  for (std::size_t t = 0; t < length; ++t) {
    for (int k = 0; k < 3; ++k) s[t] += amplitude[k] * std::sin(2 * kPi * double(t) / period[k] + phase[k]);
    s[t] += noise * tg::normal01();
  }
  return s;
}

double ForecastResult::test_mse_of(const std::string& cell) const {
  for (std::size_t i = 0; i < config.cells.size(); ++i)
    if (config.cells[i] == cell) return test_mse[i];
  throw std::invalid_argument("forecasting: no cell '" + cell + "'");
}

ForecastResult run_forecasting(const ForecastConfig& c) {
  if (c.test_length + c.window + 2 > c.length || c.test_length < 2)
    throw std::invalid_argument("forecasting: the series is too short for the test segment and one window");
  ForecastResult result{c, {}, {}, {}, 0};
  tg::manual_seed(c.seed);
  result.series = make_signal(c.length, c.noise);
  const std::vector<double>& s = result.series;
  const std::size_t train_end = c.length - c.test_length;  // targets s[1 .. train_end - 1] train

  std::vector<double> truth(s.begin() + long(train_end), s.end()), naive(c.test_length);
  for (std::size_t i = 0; i < c.test_length; ++i) naive[i] = s[train_end + i - 1];
  result.naive_mse = mean_squared(naive, truth);

  for (const std::string& name : c.cells) {
    tg::manual_seed(c.seed + 1);  // the same init stream for every cell
    ForecastModel model(name, c.hidden_size);
    const std::vector<Tensor> params = all_parameters(*model.cell, model.head);
    tg::Adam opt(params, tg::AdamOptions(c.lr));
    const std::size_t T = c.window, B = c.batch;
    for (std::size_t step = 1; step <= c.steps; ++step) {
      tg::manual_seed(c.seed * 1000003ULL + step);  // the same windows for every cell
      xt::xarray<float> x = xt::zeros<float>({T * B, std::size_t(1)}), y = x;  // [T*B, 1]
      for (std::size_t b = 0; b < B; ++b) {
        const std::size_t start = tg::randint(train_end - T);  // window s[start .. start+T], inside the training part
        for (std::size_t t = 0; t < T; ++t) {
          x(t * B + b, 0) = float(s[start + t]);
          y(t * B + b, 0) = float(s[start + t + 1]);
        }
      }
      Tensor loss = tg::mse(model.forward(x, T, B), Tensor::constant(y));
      loss.backward();
      tg::clip_grad_norm(params, c.clip);
      opt.step();
      opt.zero_grad();
    }
    // Test: one stream over the whole series up to the last input; forecasts of the test targets.
    tg::NoGradGuard no_grad;
    const std::size_t steps = c.length - 1;
    xt::xarray<float> x = xt::zeros<float>({steps, std::size_t(1)});  // [N-1, 1], B = 1
    for (std::size_t t = 0; t < steps; ++t) x(t, 0) = float(s[t]);
    const Tensor forecast = model.forward(x, steps, 1);  // row t forecasts s[t+1]
    std::vector<double> pred(c.test_length);
    for (std::size_t i = 0; i < c.test_length; ++i) pred[i] = double(forecast.data<float>()[train_end + i - 1]);
    result.test_mse.push_back(mean_squared(pred, truth));
    result.prediction.push_back(std::move(pred));
  }
  return result;
}

tgex::Table forecasting_table(const ForecastResult& result) {
  tgex::Table table({"model", "test_mse", "mse / naive", "mse / noise_var"});
  const double noise_var = result.config.noise * result.config.noise;
  table.add({"naive (last value)", result.naive_mse, 1.0, result.naive_mse / noise_var});
  for (std::size_t i = 0; i < result.config.cells.size(); ++i)
    table.add({result.config.cells[i], result.test_mse[i], result.test_mse[i] / result.naive_mse,
               result.test_mse[i] / noise_var});
  return table;
}

tgex::Table forecasting_predictions(const ForecastResult& result) {
  std::vector<std::string> header = {"t", "truth", "naive"};
  for (const auto& cell : result.config.cells) header.push_back(cell);
  tgex::Table table(header);
  const std::size_t train_end = result.config.length - result.config.test_length;
  for (std::size_t i = 0; i < result.config.test_length; ++i) {
    std::vector<tgex::Field> row = {train_end + i, result.series[train_end + i], result.series[train_end + i - 1]};
    for (const auto& p : result.prediction) row.emplace_back(p[i]);
    table.add(row);
  }
  return table;
}

void plot_forecasting(const ForecastResult& result, const std::string& svg_path, std::size_t shown) {
  const std::size_t train_end = result.config.length - result.config.test_length;
  shown = std::min(shown, result.config.test_length);
  std::vector<tgex::Chart> panels;
  for (std::size_t k = 0; k < result.config.cells.size(); ++k) {
    tgex::Chart chart;
    char title[160];
    std::snprintf(title, sizeof title, "%s: next-value forecast on the test segment (test MSE %.4f, naive %.4f)",
                  result.config.cells[k].c_str(), result.test_mse[k], result.naive_mse);
    chart.options.title = title;
    chart.options.x_label = "t";
    chart.options.y_label = "s(t)";
    chart.options.width = 960;
    chart.options.height = 280;
    tgex::Series truth("truth (noisy)"), pred(result.config.cells[k] + " forecast");
    truth.color = "#999";
    truth.markers = true;
    truth.width = 1;
    pred.color = tgex::palette_color(k);
    for (std::size_t i = 0; i < shown; ++i) {
      truth.x.push_back(double(train_end + i)), truth.y.push_back(result.series[train_end + i]);
      pred.x.push_back(double(train_end + i)), pred.y.push_back(result.prediction[k][i]);
    }
    chart.series = {truth, pred};
    panels.push_back(std::move(chart));
  }
  tgex::write_svg_panels(svg_path, panels, 1);
}

}  // namespace tgexp
