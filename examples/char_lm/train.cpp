// char_lm train: the training loop with validation, sampling, checkpoints and resume.
//   T block length, B streams, V vocabulary, H hidden, L layers
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdint>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>
#include <xtensor/xview.hpp>

#include "corpus.hpp"
#include "data_parallel.hpp"
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

// The carried hidden state as checkpoint extras, "state.l<k>.h" and "state.l<k>.c", [B, H]:
// each rank carries its own streams' rows [B/N, H], stacked in rank order on rank 0 (a
// collective: every rank calls it; the other ranks get empty tensors).
tg::NamedTensors state_tensors(const CharLM& model, const tg::TBPTT<float>& tbptt, std::size_t local_batch,
                               const DataParallel& dp) {
  const auto& st = tbptt.state();
  const std::size_t S = model.rnn().cell(0).state_size();
  tg::NamedTensors out;
  for (std::size_t l = 0; l < model.config().layers; ++l)
    for (std::size_t k = 0; k < S; ++k) {
      const tg::Tensor local = st.empty() ? tg::Tensor::zeros({local_batch, model.config().hidden}) : st[l][k].detach();
      out.emplace_back("state.l" + std::to_string(l) + (k == 0 ? ".h" : ".c"), dp.gather_rows(local));
    }
  return out;
}

// Rows [first, first + count) of a [B, H] state: this rank's streams.
tg::Tensor rows_of(const tg::Tensor& t, std::size_t first, std::size_t count) {
  return tg::Tensor::constant(xt::xarray<float>(xt::view(t.value(), xt::range(first, first + count), xt::all())));
}

// Columns [first, first + count) of a [T, B] block: this rank's streams.
xt::xarray<int> streams_of(const xt::xarray<int>& block, std::size_t first, std::size_t count) {
  return xt::view(block, xt::all(), xt::range(first, first + count));
}

// What every rank of a distributed run must agree on (checked at start).
std::map<std::string, std::string> run_settings(TrainOptions& o, const Corpus& corpus, std::size_t step) {
  std::map<std::string, std::string> s;
  for (const auto& f : trajectory_flags(o)) s[f.flag] = f.get();
  s["--steps"] = std::to_string(o.steps);
  s["--val-every"] = std::to_string(o.val_every);
  s["--save-every"] = std::to_string(o.save_every);
  s["--keep-best"] = o.keep_best ? "yes" : "no";
  s["--max-seconds"] = std::to_string(o.max_seconds);
  s["--resume"] = o.resume ? "yes" : "no";
  s["the resumed step"] = std::to_string(step);
  s["the corpus hash"] = hash_text(corpus.hash);
  s["the corpus length"] = std::to_string(corpus.text.size());
  return s;
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
  DataParallel dp(o.distributed);
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
  dp.check_same(run_settings(o, corpus, o.resume ? std::stoull(required(meta, "train.step", o.checkpoint)) : 0));
  // This rank's streams (all B of them in a single process).
  const std::size_t local_batch = dp.streams(o.batch), first_stream = dp.first_stream(o.batch);

  tg::manual_seed(o.seed);
  CharLM model(config);
  auto opt = make_optimizer(o, model);
  const long schedule_steps = o.resume ? std::stol(required(meta, "train.schedule_steps", o.checkpoint)) : long(o.steps);
  auto sched = make_schedule(o, *opt, schedule_steps);
  tg::TBPTT<float> tbptt(model.rnn(), o.block);
  std::size_t step = 0;
  double best_val = std::numeric_limits<double>::infinity();
  const std::vector<tg::Tensor> params = model.parameters();
  // The RNG key of this rank's stream (dropout masks) in the checkpoint.
  const std::string rng_key = dp.rank() == 0 ? "train.rng_state" : "train.rng_state.rank" + std::to_string(dp.rank());
  if (o.resume) {
    tg::NamedTensors extra = state_tensors(model, tbptt, o.batch, DataParallel(false));  // [B, H] each
    tg::load_checkpoint(o.checkpoint, model, opt.get(), extra, sched.get());
    try {
      step = std::stoull(required(meta, "train.step", o.checkpoint));
      best_val = std::stod(required(meta, "train.best_val", o.checkpoint));
      // A checkpoint of a run with fewer ranks has no stream for this rank: seed a fresh one.
      if (meta.count(rng_key) || dp.root()) tg::set_rng_state(required(meta, rng_key, o.checkpoint));
      else tg::manual_seed(o.seed + 0x9E3779B97F4A7C15ULL * std::uint64_t(dp.rank()) + step);
    } catch (const std::invalid_argument& e) {
      throw InputError(o.checkpoint + ": malformed training state (" + e.what() + ")");
    }
    std::vector<tg::State> state = states_from(extra, model);
    for (auto& layer : state)
      for (auto& t : layer) t = rows_of(t, first_stream, local_batch);  // [B, H] -> this rank's [B/N, H]
    tbptt.set_state(state);
    if (step >= o.steps)
      throw InputError(o.checkpoint + " is already at step " + std::to_string(step) + "; --steps " +
                       std::to_string(o.steps) + " is the total, so pass a larger one to train further");
  }
  // Every rank starts from rank 0's weights, and then averages its gradients with the others.
  dp.start(params);
  // Dropout masks: rank 0 keeps the single-process stream, every other rank draws its own
  // (equivalence with a single process is exact only without dropout).
  if (!o.resume && dp.rank() > 0) tg::manual_seed(o.seed + 0x9E3779B97F4A7C15ULL * std::uint64_t(dp.rank()));

  // A collective: every rank calls it (the state and RNG streams are gathered); rank 0 writes.
  auto save = [&](const std::string& path) {
    const tg::NamedTensors state = state_tensors(model, tbptt, local_batch, dp);
    const std::vector<std::string> rng_states = dp.allgather(tg::rng_state());
    if (!dp.root()) return;
    Metadata m = config.to_metadata();
    for (const auto& f : trajectory_flags(o)) m[f.key] = f.get();
    m["vocab"] = vocab.serialize();
    m["corpus.name"] = corpus.name;
    m["corpus.hash"] = hash_text(corpus.hash);
    m["train.step"] = std::to_string(step);
    m["train.schedule_steps"] = std::to_string(schedule_steps);
    m["train.best_val"] = exact_text(best_val);
    m["train.rng_state"] = rng_states[0];
    for (std::size_t r = 1; r < rng_states.size(); ++r) m["train.rng_state.rank" + std::to_string(r)] = rng_states[r];
    if (dp.distributed()) m["train.ranks"] = std::to_string(dp.size());
    tg::save_checkpoint(path, model, opt.get(), state, m, sched.get());
  };

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Progress progress(o.steps, !dp.root());  // only rank 0 prints and logs
  CsvLog log(dp.root() ? o.log : std::string());
  progress.message("char_lm: " + corpus.name + ": " + std::to_string(ids.size()) + " characters, vocabulary " +
                   std::to_string(vocab.size()) + ", train " + std::to_string(split.train.size()) + ", validation " +
                   std::to_string(split.val.size()));
  progress.message("model: " + o.cell + " layers " + std::to_string(o.layers) + " hidden " + std::to_string(o.hidden) +
                   " embed " + std::to_string(o.embed) + ", " + std::to_string(model.parameter_count()) +
                   " parameters; " + o.optim + " lr " + exact_text(o.lr) + ", batch " + std::to_string(o.batch) +
                   " x block " + std::to_string(o.block) + ", " + std::to_string(o.threads) + " thread(s)" +
                   (dp.distributed() ? " per rank, " + std::to_string(dp.size()) + " ranks of " +
                                           std::to_string(local_batch) + " streams each"
                                     : "") +
                   (o.resume ? "; resumed at step " + std::to_string(step) : ""));

  double train_time = 0, window_loss = 0, last_train_loss = std::nan(""), val_loss = std::nan("");
  std::size_t window_steps = 0, trained_steps = 0;
  const auto wall_start = Clock::now();
  xt::xarray<int> x, y;  // [T, B/N]: this rank's streams
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
  auto validate_and_sample = [&] {
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
    return val_loss;
  };
  // Rank 0 validates and samples; every rank learns the loss (for --keep-best, a collective save).
  auto validate = [&] {
    val_loss = dp.from_root(dp.root() ? validate_and_sample() : 0.0);
    if (val_loss < best_val) {
      best_val = val_loss;
      if (o.keep_best) save(o.checkpoint + ".best");
    }
  };

  while (step < o.steps) {
    if (dp.any(stop_signal != 0)) {  // under mpirun: every rank stops at the same step
      save(o.checkpoint);
      progress.message(std::string("interrupted by ") + (stop_signal == SIGINT ? "SIGINT" : "SIGTERM") +
                       ": checkpoint written to " + o.checkpoint + " at step " + std::to_string(step) +
                       "; continue with --resume");
      return kFailure;
    }
    const auto t0 = Clock::now();
    const std::size_t next = step + 1;
    if (batcher.starts_epoch(next)) tbptt.reset();  // the streams wrapped around: zero state
    batcher.block(next, x, y);  // [T, B]
    if (dp.distributed()) {
      x = streams_of(x, first_stream, local_batch);  // [T, B/N]
      y = streams_of(y, first_stream, local_batch);
    }
    tg::Tensor loss = tg::cross_entropy(model.forward(x, tbptt), y);  // mean over this rank's T*B/N
    const double loss_value = dp.mean(loss.item());  // = the mean over all T*B (equal shares)
    try {
      if (!std::isfinite(loss_value)) throw tg::NonFiniteError("the loss is " + std::to_string(loss_value));
      loss.backward();
      dp.average_gradients();  // mean over ranks: every rank now holds the whole batch's gradient
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
    const bool last = step == o.steps || dp.any(o.max_seconds && train_time >= double(o.max_seconds));
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
  // Under mpirun: rank 0's time inside the gradient allreduce, per step and as a share of the step.
  const double allreduce_ms = trained_steps ? 1000 * dp.allreduce_seconds() / double(trained_steps) : 0;
  const double allreduce_share = train_time > 0 ? dp.allreduce_seconds() / train_time : 0;
  progress.message("done: step " + std::to_string(step) + ", " + std::to_string(trained_steps) + " steps in " +
                   std::to_string(train_time) + " s of training (" + std::to_string(long(tokens_per_s)) +
                   " tokens/s" +
                   (dp.distributed() ? " over " + std::to_string(dp.size()) + " ranks, allreduce " +
                                           std::to_string(allreduce_ms) + " ms/step = " +
                                           std::to_string(100 * allreduce_share) + "% of the step"
                                     : "") +
                   "); checkpoint " + o.checkpoint);
  if (!dp.root()) return kOk;
  if (!o.log.empty()) {
    CsvLog::plot(o.log, svg_path_for(o.log));
    progress.message("log " + o.log + ", loss curve " + svg_path_for(o.log));
  }
  if (o.json) {
    nlohmann::json j{{"step", step},
                     {"train_loss", last_train_loss},
                     {"val_loss", val_loss},
                     {"val_bpc", val_loss / std::log(2.0)},
                     {"tokens_per_s", tokens_per_s}};
    if (dp.distributed()) {
      j["ranks"] = dp.size();
      j["allreduce_ms_per_step"] = allreduce_ms;
      j["allreduce_share"] = allreduce_share;
    }
    std::printf("%s\n", j.dump().c_str());
  }
  return kOk;
}

}  // namespace charlm
