// char_lm train: the training loop with validation, sampling, checkpoints and resume.
//   T block length, B streams, V vocabulary, H hidden, L layers
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

#include "corpus.hpp"
#include "evaluate.hpp"
#include "options.hpp"
#include "report.hpp"
#include "session.hpp"
#include "utf8.hpp"

namespace charlm {
namespace {

std::atomic<int> stop_signal{0};
extern "C" void on_signal(int sig) { stop_signal = sig; }

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A training flag that shapes the trajectory: stored in the checkpoint, taken from it on
// --resume, and an error if given with another value.
struct TrajectoryFlag {
  const char* flag;
  const char* key;
  std::function<std::string()> get;
  std::function<void(const std::string&)> set;
};

std::vector<TrajectoryFlag> trajectory_flags(TrainOptions& o) {
  auto size = [](std::size_t& v) {
    return std::make_pair([&v] { return std::to_string(v); }, [&v](const std::string& s) { v = std::stoull(s); });
  };
  auto real = [](double& v) {
    return std::make_pair([&v] { return exact_text(v); }, [&v](const std::string& s) { v = std::stod(s); });
  };
  auto text = [](std::string& v) {
    return std::make_pair([&v] { return v; }, [&v](const std::string& s) { v = s; });
  };
  std::vector<TrajectoryFlag> f;
  auto add = [&f](const char* flag, const char* key, auto p) { f.push_back({flag, key, p.first, p.second}); };
  add("--cell", "model.cell", text(o.cell));
  add("--layers", "model.layers", size(o.layers));
  add("--hidden", "model.hidden", size(o.hidden));
  add("--embed", "model.embed", size(o.embed));
  add("--dropout", "model.dropout", real(o.dropout));
  add("--batch", "train.batch", size(o.batch));
  add("--block", "train.block", size(o.block));
  add("--optim", "train.optim", text(o.optim));
  add("--lr", "train.lr", real(o.lr));
  add("--lr-schedule", "train.lr_schedule", text(o.lr_schedule));
  add("--warmup", "train.warmup", size(o.warmup));
  add("--clip", "train.clip", real(o.clip));
  add("--val-fraction", "train.val_fraction", real(o.val_fraction));
  f.push_back({"--seed", "train.seed", [&o] { return std::to_string(o.seed); },
               [&o](const std::string& s) { o.seed = std::stoull(s); }});
  return f;
}

// --resume: the checkpoint's flags win; a conflicting flag on the command line is an error.
void take_flags_from(const Metadata& meta, TrainOptions& o) {
  for (const auto& f : trajectory_flags(o)) {
    const std::string& stored = required(meta, f.key, o.checkpoint);
    if (o.given.count(f.flag) && f.get() != stored)
      throw InputError(std::string(f.flag) + " " + f.get() + " conflicts with the checkpoint " + o.checkpoint +
                       ", which was trained with " + f.flag + " " + stored + " (drop the flag to resume)");
    try {
      f.set(stored);
    } catch (const std::exception&) {
      throw InputError(o.checkpoint + ": malformed '" + f.key + "' = '" + stored + "'");
    }
  }
}

std::unique_ptr<tg::OptimizerT<float>> make_optimizer(const TrainOptions& o, const CharLM& model) {
  const tg::NamedTensors params = model.named_parameters();
  if (o.optim == "adam") return std::make_unique<tg::Adam>(params, tg::AdamOptions{o.lr});
  if (o.optim == "adamw")  // decoupled weight decay on matrices only, none on biases
    return std::make_unique<tg::AdamW>(tg::weight_decay_groups(params), tg::AdamWOptions{o.lr});
  if (o.optim == "sgd") return std::make_unique<tg::SGD>(params, tg::SGDOptions{o.lr, 0.9});
  if (o.optim == "adagrad") return std::make_unique<tg::Adagrad>(params, tg::AdagradOptions{o.lr});
  return std::make_unique<tg::RMSprop>(params, tg::RMSpropOptions{o.lr});
}

// constant | cosine over `total` steps | step (x0.5 every quarter), after an optional warm-up.
std::unique_ptr<tg::LRScheduler> make_schedule(const TrainOptions& o, tg::OptimizerBase& opt, long total) {
  std::unique_ptr<tg::LRScheduler> main;
  if (o.lr_schedule == "cosine") main = std::make_unique<tg::CosineAnnealingLR>(opt, std::max(1L, total - long(o.warmup)));
  if (o.lr_schedule == "step") main = std::make_unique<tg::StepLR>(opt, std::max(1L, total / 4), 0.5);
  if (o.warmup == 0) return main;
  if (!main) return std::make_unique<tg::LinearWarmup>(opt, long(o.warmup));
  return std::make_unique<tg::LinearWarmup>(opt, long(o.warmup), std::move(main));
}

// The carried hidden state as checkpoint extras, "state.l<k>.h" and "state.l<k>.c", [B, H].
tg::NamedTensors state_tensors(const CharLM& model, const tg::TBPTT<float>& tbptt, std::size_t batch) {
  const auto& st = tbptt.state();
  const std::size_t S = model.rnn().cell(0).state_size();
  tg::NamedTensors out;
  for (std::size_t l = 0; l < model.config().layers; ++l)
    for (std::size_t k = 0; k < S; ++k)
      out.emplace_back("state.l" + std::to_string(l) + (k == 0 ? ".h" : ".c"),
                       st.empty() ? tg::Tensor::zeros({batch, model.config().hidden}) : st[l][k].detach());
  return out;
}

std::vector<tg::State> states_from(const tg::NamedTensors& extra, const CharLM& model) {
  const std::size_t S = model.rnn().cell(0).state_size();
  std::vector<tg::State> st(model.config().layers);
  for (std::size_t i = 0; i < extra.size(); ++i) st[i / S].push_back(extra[i].second);
  return st;
}

// Every weight is a number (no NaN/Inf).
bool finite(const std::vector<tg::Tensor>& params) {
  for (const auto& p : params)
    for (std::size_t i = 0; i < p.numel(); ++i)
      if (!std::isfinite(p.data()[i])) return false;
  return true;
}

std::string decode_ids(const Vocabulary& v, const std::vector<int>& ids) {
  std::vector<char32_t> cps;
  for (int id : ids) cps.push_back(v.symbol(std::size_t(id)));
  return encode_utf8(cps);
}

}  // namespace

int run_train(const TrainOptions& options) {
  TrainOptions o = options;
  tg::set_num_threads(o.threads);
  const Corpus corpus = o.data.empty() ? builtin_corpus() : read_corpus(o.data);
  Metadata meta;
  if (o.resume) {
    meta = tg::read_checkpoint_metadata(o.checkpoint);
    take_flags_from(meta, o);
    if (hash_text(corpus.hash) != required(meta, "corpus.hash", o.checkpoint))
      throw InputError(corpus.name + " is not the corpus " + o.checkpoint + " was trained on (its hash differs)");
  }
  // Bad values below throw std::invalid_argument, which main() reports as bad input (exit 2).
  const Vocabulary vocab =
      o.resume ? Vocabulary::deserialize(required(meta, "vocab", o.checkpoint)) : Vocabulary(corpus.text);
  const std::vector<int> ids = vocab.encode(corpus.text, corpus.name);
  const Split split = split_corpus(ids, o.val_fraction);
  const StreamBatcher batcher(split.train, o.batch, o.block);
  const ModelConfig config{o.cell, vocab.size(), o.layers, o.hidden, o.embed, o.dropout};
  config.validate();

  tg::manual_seed(o.seed);
  CharLM model(config);
  auto opt = make_optimizer(o, model);
  const long schedule_steps = o.resume ? std::stol(required(meta, "train.schedule_steps", o.checkpoint)) : long(o.steps);
  auto sched = make_schedule(o, *opt, schedule_steps);
  tg::TBPTT<float> tbptt(model.rnn(), o.block);
  std::size_t step = 0;
  double best_val = std::numeric_limits<double>::infinity();
  if (o.resume) {
    tg::NamedTensors extra = state_tensors(model, tbptt, o.batch);
    tg::load_checkpoint(o.checkpoint, model, opt.get(), extra, sched.get());
    try {
      step = std::stoull(required(meta, "train.step", o.checkpoint));
      best_val = std::stod(required(meta, "train.best_val", o.checkpoint));
      tg::set_rng_state(required(meta, "train.rng_state", o.checkpoint));
    } catch (const std::invalid_argument& e) {
      throw InputError(o.checkpoint + ": malformed training state (" + e.what() + ")");
    }
    tbptt.set_state(states_from(extra, model));
    if (step >= o.steps)
      throw InputError(o.checkpoint + " is already at step " + std::to_string(step) + "; --steps " +
                       std::to_string(o.steps) + " is the total, so pass a larger one to train further");
  }

  auto save = [&](const std::string& path) {
    Metadata m = config.to_metadata();
    for (const auto& f : trajectory_flags(o)) m[f.key] = f.get();
    m["vocab"] = vocab.serialize();
    m["corpus.name"] = corpus.name;
    m["corpus.hash"] = hash_text(corpus.hash);
    m["train.step"] = std::to_string(step);
    m["train.schedule_steps"] = std::to_string(schedule_steps);
    m["train.best_val"] = exact_text(best_val);
    m["train.rng_state"] = tg::rng_state();
    tg::save_checkpoint(path, model, opt.get(), state_tensors(model, tbptt, o.batch), m, sched.get());
  };

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Progress progress(o.steps);
  CsvLog log(o.log);
  progress.message("char_lm: " + corpus.name + ": " + std::to_string(ids.size()) + " characters, vocabulary " +
                   std::to_string(vocab.size()) + ", train " + std::to_string(split.train.size()) + ", validation " +
                   std::to_string(split.val.size()));
  progress.message("model: " + o.cell + " layers " + std::to_string(o.layers) + " hidden " + std::to_string(o.hidden) +
                   " embed " + std::to_string(o.embed) + ", " + std::to_string(model.parameter_count()) +
                   " parameters; " + o.optim + " lr " + exact_text(o.lr) + ", batch " + std::to_string(o.batch) +
                   " x block " + std::to_string(o.block) + ", " + std::to_string(o.threads) + " thread(s)" +
                   (o.resume ? "; resumed at step " + std::to_string(step) : ""));

  const std::vector<tg::Tensor> params = model.parameters();
  double train_time = 0, window_loss = 0, last_train_loss = std::nan(""), val_loss = std::nan("");
  std::size_t window_steps = 0, trained_steps = 0;
  const auto wall_start = Clock::now();
  xt::xarray<int> x, y;
  auto report_row = [&](bool with_val) {
    ReportRow r;
    r.step = step;
    if (window_steps) r.train_loss = last_train_loss = window_loss / double(window_steps);
    if (with_val) {
      r.val_loss = val_loss;
      r.val_bpc = val_loss / std::log(2.0);
    }
    r.lr = opt->lr();
    r.tokens_per_s = train_time > 0 ? double(trained_steps * o.batch * o.block) / train_time : 0;
    r.seconds = seconds_since(wall_start);
    window_loss = 0;
    window_steps = 0;
    return r;
  };
  auto validate = [&] {
    model.eval();  // no dropout while validating and sampling
    val_loss = evaluate(model, split.val);
    const ReportRow r = report_row(true);
    log.write(r);
    // A short sample that does not disturb the training RNG stream (resume stays exact).
    const std::string rng = tg::rng_state();
    tg::manual_seed(o.seed + step);
    const std::string text = decode_ids(vocab, sample(model, {}, 160, 0.8, 0, split.val[0]));
    tg::set_rng_state(rng);
    model.train();
    progress.message("step " + std::to_string(step) + ": validation " + std::to_string(val_loss) + " nats/char, " +
                     std::to_string(val_loss / std::log(2.0)) + " bits/char; train " +
                     (r.train_loss ? std::to_string(*r.train_loss) : std::string("-")));
    std::string indented;  // the sample, each line indented under its heading
    for (char c : text) indented += c == '\n' ? std::string("\n  ") : std::string(1, c);
    progress.message("sample:\n  " + indented);
    if (val_loss < best_val) {
      best_val = val_loss;
      if (o.keep_best) save(o.checkpoint + ".best");
    }
  };

  while (step < o.steps) {
    if (stop_signal) {
      save(o.checkpoint);
      progress.message(std::string("interrupted by ") + (stop_signal == SIGINT ? "SIGINT" : "SIGTERM") +
                       ": checkpoint written to " + o.checkpoint + " at step " + std::to_string(step) +
                       "; continue with --resume");
      return kFailure;
    }
    const auto t0 = Clock::now();
    const std::size_t next = step + 1;
    if (batcher.starts_epoch(next)) tbptt.reset();  // the streams wrapped around: zero state
    batcher.block(next, x, y);
    tg::Tensor loss = tg::cross_entropy(model.forward(x, tbptt), y);  // mean over T*B
    const double loss_value = loss.item();
    try {
      if (!std::isfinite(loss_value)) throw tg::NonFiniteError("the loss is " + std::to_string(loss_value));
      loss.backward();
      // Clips (or with --clip 0 only measures) the gradient norm; NaN/Inf throws.
      tg::clip_grad_norm(params, o.clip > 0 ? o.clip : std::numeric_limits<double>::infinity());
      opt->step();
      if (sched) sched->step();
      opt->zero_grad();
      // A finite gradient can still overflow a weight (a huge lr): that is divergence too.
      if (!finite(params)) throw tg::NonFiniteError("a parameter became NaN/Inf");
    } catch (const tg::NonFiniteError& e) {
      tg::clear_tape();
      progress.message("training diverged at step " + std::to_string(next) + " (" + e.what() +
                       "); the last good checkpoint is kept: " + o.checkpoint);
      return kDiverged;
    }
    step = next;
    train_time += seconds_since(t0);
    window_loss += loss_value;
    ++window_steps;
    ++trained_steps;
    const bool last = step == o.steps || (o.max_seconds && train_time >= double(o.max_seconds));
    if (step % o.print_every == 0 && step % o.val_every != 0 && !last) {
      const ReportRow r = report_row(false);
      log.write(r);
      const double per_step = train_time / double(trained_steps);
      progress.update(r, per_step * double(o.steps - step));
    }
    if (step % o.val_every == 0 || last) validate();
    if ((o.save_every && step % o.save_every == 0) || last) save(o.checkpoint);
    if (last) break;
  }
  const double tokens_per_s = train_time > 0 ? double(trained_steps * o.batch * o.block) / train_time : 0;
  progress.message("done: step " + std::to_string(step) + ", " + std::to_string(trained_steps) + " steps in " +
                   std::to_string(train_time) + " s of training (" + std::to_string(long(tokens_per_s)) +
                   " tokens/s); checkpoint " + o.checkpoint);
  if (!o.log.empty()) {
    CsvLog::plot(o.log, svg_path_for(o.log));
    progress.message("log " + o.log + ", loss curve " + svg_path_for(o.log));
  }
  if (o.json)
    std::printf("%s\n", nlohmann::json{{"step", step},
                                       {"train_loss", last_train_loss},
                                       {"val_loss", val_loss},
                                       {"val_bpc", val_loss / std::log(2.0)},
                                       {"tokens_per_s", tokens_per_s}}
                            .dump()
                            .c_str());
  return kOk;
}

}  // namespace charlm
