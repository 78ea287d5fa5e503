#include "adding_task.hpp"

#include <chrono>
#include <cmath>
#include <memory>
#include <stdexcept>

#include <tapegrad/tapegrad.hpp>

#include "cells.hpp"

namespace tgexp {
namespace {

using tg::Tensor;

struct AddingModel {
  std::unique_ptr<tg::Cell> cell;
  tg::Linear head;
  AddingModel(const std::string& name, std::size_t hidden) : cell(make_cell(name, 2, hidden)), head(hidden, 1) {}

  Tensor predict(const xt::xarray<float>& x, std::size_t length, std::size_t batch) const {
    const tg::SequenceRun run = tg::run_cell(*cell, Tensor::constant(x), length, cell->initial_state(batch));
    return head(run.state[0]);  // [B, H] -> [B, 1]
  }
};

// Test MSE over `test` in one forward pass, recording nothing.
double evaluate(const AddingModel& model, const AddingBatch& test, std::size_t length) {
  tg::NoGradGuard no_grad;
  const std::size_t batch = test.y.shape()[0];
  return double(tg::mse(model.predict(test.x, length, batch), Tensor::constant(test.y)).item());
}

}  // namespace

AddingBatch make_adding_batch(std::size_t length, std::size_t batch) {
  if (length < 2) throw std::invalid_argument("adding problem: the sequence length must be >= 2");
  AddingBatch b{xt::zeros<float>({length * batch, std::size_t(2)}), xt::zeros<float>({batch, std::size_t(1)})};
  const std::size_t half = length / 2;
  for (std::size_t s = 0; s < batch; ++s) {
    for (std::size_t t = 0; t < length; ++t) b.x(t * batch + s, 0) = float(tg::uniform01());
    const std::size_t first = tg::randint(half), second = half + tg::randint(length - half);  // one mark per half
    b.x(first * batch + s, 1) = b.x(second * batch + s, 1) = 1.0f;
    b.y(s, 0) = b.x(first * batch + s, 0) + b.x(second * batch + s, 0);
  }
  return b;
}

AddingRun train_adding(const std::string& cell, const AddingTrainConfig& c) {
  const auto start = std::chrono::steady_clock::now();
  tg::manual_seed(c.seed ^ 0x7e57ULL ^ (std::uint64_t(c.length) << 20));  // the test set: same for every cell
  const AddingBatch test = make_adding_batch(c.length, c.test_size);

  tg::manual_seed(c.seed);  // the init
  AddingModel model(cell, c.hidden_size);
  scale_recurrent_weights(*model.cell, c.recurrent_scale);
  const std::vector<Tensor> params = all_parameters(*model.cell, model.head);
  std::unique_ptr<tg::Optimizer> opt;
  if (c.optimizer == "adam") opt = std::make_unique<tg::Adam>(params, tg::AdamOptions(c.lr));
  else if (c.optimizer == "sgd") opt = std::make_unique<tg::SGD>(params, tg::SGDOptions(c.lr));
  else throw std::invalid_argument("adding problem: unknown optimizer '" + c.optimizer + "' (adam or sgd)");

  AddingRun run;
  for (std::size_t step = 1; step <= c.steps; ++step) {
    tg::manual_seed(c.seed * 1000003ULL + step);  // the same batches for every cell
    const AddingBatch batch = make_adding_batch(c.length, c.batch);
    Tensor loss = tg::mse(model.predict(batch.x, c.length, c.batch), Tensor::constant(batch.y));
    const double loss_value = loss.item();
    loss.backward();
    double norm = std::numeric_limits<double>::infinity();
    try {
      norm = tg::clip_grad_norm(params, c.clip);  // +inf clip: measures only
    } catch (const tg::NonFiniteError&) {  // see Note [non-finite gradient norm] in clip.hpp
    }
    run.train_loss.push_back(loss_value);
    run.grad_norm.push_back(norm);
    if (!std::isfinite(loss_value) || !std::isfinite(norm)) {
      run.diverged = true;
      run.diverged_at = step;
      opt->zero_grad();
      break;
    }
    opt->step();
    opt->zero_grad();
    if (c.eval_every && step % c.eval_every == 0 && step != c.steps) {
      run.eval_step.push_back(step);
      run.eval_mse.push_back(evaluate(model, test, c.length));
    }
  }
  if (!run.diverged) {
    run.test_mse = evaluate(model, test, c.length);
    run.eval_step.push_back(c.steps);
    run.eval_mse.push_back(run.test_mse);
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

}  // namespace tgexp
