// char_lm train: the loop, with validation, sampling, checkpoints, signals and divergence.
//   T block length, B streams, V vocabulary, H hidden, L layers
#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>
#include <xtensor/xview.hpp>

#include "evaluate.hpp"
#include "paths.hpp"
#include "presets.hpp"
#include "recomputed_block.hpp"
#include "signals.hpp"
#include "training_run.hpp"
#include "utf8.hpp"

namespace charlm {
namespace {

// Every weight is a number (no NaN/Inf).
bool finite(const std::vector<tg::Tensor>& params) {
  for (const auto& p : params)
    for (std::size_t i = 0; i < p.numel(); ++i)
      if (!std::isfinite(p.data<float>()[i])) return false;
  return true;
}

std::string decode_ids(const Vocabulary& v, const std::vector<int>& ids) {
  std::vector<char32_t> cps;
  for (int id : ids) cps.push_back(v.symbol(std::size_t(id)));
  return encode_utf8(cps);
}

// Columns [first, first + count) of a [T, B] block: this rank's streams.
xt::xarray<int> streams_of(const xt::xarray<int>& block, std::size_t first, std::size_t count) {
  return xt::view(block, xt::all(), xt::range(first, first + count));
}

}  // namespace

int TrainingRun::run() {
  install_stop_signals();
  progress_->message("char_lm: " + shown(corpus_.name) + ": " + std::to_string(ids_.size()) + " characters, vocabulary " +
                    std::to_string(vocab_.size()) + ", train " + std::to_string(split_.train.size()) + ", validation " +
                    std::to_string(split_.val.size()));
  progress_->message("model: " + o_.cell + " layers " + std::to_string(o_.layers) + " hidden " + std::to_string(o_.hidden) +
                    " embed " + std::to_string(o_.embed) + ", " + std::to_string(model_->parameter_count()) +
                    " parameters; " + o_.optim + " lr " + tg::exact_text(o_.lr) + ", batch " + std::to_string(o_.batch) +
                    " x block " + std::to_string(o_.block) + ", " + std::to_string(tg::get_num_threads()) + " thread(s)" +
                    (dp_.distributed() ? " per rank, " + std::to_string(dp_.size()) + " ranks of " +
                                             std::to_string(local_batch_) + " streams each"
                                       : "") +
                    (o_.resume ? "; resumed at step " + std::to_string(step_) : ""));
  while (step_ < o_.steps) {
    if (dp_.any(stop_signal() != 0)) return interrupted();  // under mpirun: every rank stops at the same step
    const std::size_t next = step_ + 1;
    try {
      train_step(next);
    } catch (const tg::NonFiniteError& e) {
      tg::clear_tape();
      return diverged(next, e.what());
    }
    const bool last = step_ == o_.steps || dp_.any(o_.max_seconds && train_time_ >= double(o_.max_seconds));
    if (step_ % o_.print_every == 0 && step_ % o_.val_every != 0 && !last) {
      const ReportRow r = report_row(false);
      log_->write(r);
      const double per_step = train_time_ / double(trained_steps_);
      progress_->update(r, per_step * double(o_.steps - step_));
    }
    if ((step_ % o_.val_every == 0 || last) && !validate()) return interrupted();
    if ((o_.save_every && step_ % o_.save_every == 0) || last) save(o_.checkpoint);
    if (last) break;
  }
  return finish();
}

// One step: forward over the block, backward, gradient averaging, clipping, update.
// tg::NonFiniteError when the loss, the gradient or a weight is not a number, or the loss is
// above 10 ln V (worse than a uniform guess by far: divergence).
void TrainingRun::train_step(std::size_t next) {
  const auto t0 = Clock::now();
  xt::xarray<int> x, y;  // [T, B]
  if (batcher_->starts_epoch(next)) tbptt_->reset();  // the streams wrapped around: zero state
  batcher_->block(next, x, y);
  if (dp_.distributed()) {
    x = streams_of(x, first_stream_, local_batch_);  // [T, B/N]: this rank's streams
    y = streams_of(y, first_stream_, local_batch_);
  }
  tg::Tensor loss = o_.recompute_every  // mean over this rank's T*B/N
                        ? recomputed_block_loss(*model_, *tbptt_, x, y, o_.recompute_every)
                        : tg::cross_entropy(model_->forward(x, *tbptt_), y);
  const double loss_value = dp_.mean(loss.item());  // = the mean over all T*B (equal shares)
  if (!std::isfinite(loss_value)) throw tg::NonFiniteError("the loss is " + tg::exact_text(loss_value));
  if (loss_value > divergence_limit_)
    throw tg::NonFiniteError("the loss " + tg::exact_text(loss_value) + " is above 10 ln V = " +
                             tg::exact_text(divergence_limit_));
  loss.backward();
  dp_.average_gradients();  // mean over ranks: every rank now holds the whole batch's gradient
  // Clips (or with --clip 0 only measures) the gradient norm; NaN/Inf throws.
  tg::clip_grad_norm(params_, o_.clip > 0 ? o_.clip : std::numeric_limits<double>::infinity());
  opt_->step();
  if (sched_) sched_->step();
  opt_->zero_grad();
  // A finite gradient can still overflow a weight (a huge lr): that is divergence too.
  if (!finite(params_)) throw tg::NonFiniteError("a parameter became NaN/Inf");
  step_ = next;
  train_time_ += seconds_since(t0);
  window_loss_ += loss_value;
  ++window_steps_;
  ++trained_steps_;
}

// Rank 0 validates and samples; every rank learns the loss (for --keep-best, a collective save).
// False when a stop signal interrupted it.
bool TrainingRun::validate() {
  bool stopped = false;
  double loss = 0;
  if (dp_.root()) {
    model_->eval();  // no dropout while validating and sampling
    try {
      loss = evaluate(*model_, split_.val, 1024, [] { return stop_signal() != 0; });
    } catch (const Interrupted&) {
      stopped = true;
    }
  }
  if (dp_.any(stopped)) {
    model_->train();
    return false;
  }
  val_loss_ = dp_.from_root(loss);
  if (dp_.root()) {
    const ReportRow r = report_row(true);
    log_->write(r);
    // A short sample that does not disturb the training RNG stream (resume stays exact).
    const std::string rng = tg::rng_state();
    tg::manual_seed(o_.seed + step_);
    SamplingOptions s;
    s.length = 160;
    s.temperature = 0.8;
    const std::string text = decode_ids(vocab_, sample(*model_, {}, s, split_.val[0])[0]);
    tg::set_rng_state(rng);
    progress_->message("step " + std::to_string(step_) + ": validation " + std::to_string(val_loss_) + " nats/char, " +
                      std::to_string(val_loss_ / std::log(2.0)) + " bits/char; train " +
                      (r.train_loss ? std::to_string(*r.train_loss) : std::string("-")));
    std::string indented;  // the sample, each line indented under its heading
    for (char c : text) indented += c == '\n' ? std::string("\n  ") : std::string(1, c);
    progress_->message("sample:\n  " + indented);
  }
  model_->train();
  if (val_loss_ < best_val_) {
    best_val_ = val_loss_;
    if (o_.keep_best) save(o_.checkpoint + ".best");
  }
  return true;
}

// Note [signals]: save where the run stands, say so on stderr, exit with 128 + the signal.
int TrainingRun::interrupted() {
  const int sig = stop_signal();
  save(o_.checkpoint);
  if (dp_.root())
    std::cerr << "char_lm: interrupted by " << signal_name(sig) << ": checkpoint written to " << shown(o_.checkpoint)
              << " at step " << step_ << "; continue with --resume" << std::endl;
  return kSignalBase + sig;
}

// The one line on stderr names the checkpoint only when one of this run is on disk.
int TrainingRun::diverged(std::size_t at, const std::string& why) {
  const std::string kept = saved_ ? "; the last good checkpoint (step " + std::to_string(saved_step_) +
                                        ") is kept: " + shown(o_.checkpoint)
                                  : "; no checkpoint was written (lower --lr, or --save-every to keep earlier steps)";
  if (dp_.root()) std::cerr << "char_lm: training diverged at step " << at << " (" << why << ")" << kept << std::endl;
  return kDiverged;
}

int TrainingRun::finish() {
  const double tokens_per_s = train_time_ > 0 ? double(trained_steps_ * o_.batch * o_.block) / train_time_ : 0;
  // Under mpirun: rank 0's time inside the gradient allreduce, per step and as a share of the step.
  const double allreduce_ms = trained_steps_ ? 1000 * dp_.allreduce_seconds() / double(trained_steps_) : 0;
  const double allreduce_share = train_time_ > 0 ? dp_.allreduce_seconds() / train_time_ : 0;
  progress_->message("done: step " + std::to_string(step_) + ", " + std::to_string(trained_steps_) + " steps in " +
                    std::to_string(train_time_) + " s of training (" + std::to_string(long(tokens_per_s)) +
                    " tokens/s" +
                    (dp_.distributed() ? " over " + std::to_string(dp_.size()) + " ranks, allreduce " +
                                             std::to_string(allreduce_ms) + " ms/step = " +
                                             std::to_string(100 * allreduce_share) + "% of the step"
                                       : "") +
                    "); checkpoint " + shown(o_.checkpoint));
  if (!dp_.root()) return kOk;
  if (!o_.log.empty()) {
    CsvLog::plot(o_.log, svg_path_for(o_.log));
    progress_->message("log " + shown(o_.log) + ", loss curve " + shown(svg_path_for(o_.log)));
  }
  if (o_.json) {
    nlohmann::json j{{"step", step_},
                     {"train_loss", last_train_loss_},
                     {"val_loss", val_loss_},
                     {"val_bpc", val_loss_ / std::log(2.0)},
                     {"tokens_per_s", tokens_per_s},
                     {"seconds", train_time_}};  // training only: validation and saves excluded
    if (dp_.distributed()) {
      j["ranks"] = dp_.size();
      j["allreduce_ms_per_step"] = allreduce_ms;
      j["allreduce_share"] = allreduce_share;
    }
    std::printf("%s\n", j.dump().c_str());
  }
  return kOk;
}

int run_train(const TrainOptions& options) {
  TrainOptions o = options;
  if (!o.preset.empty()) apply_preset(o);
  TrainingRun run(o);
  return run.run();
}

}  // namespace charlm
