// char_lm train, the run's state: setting it up from the flags or a checkpoint (--resume),
// and saving it.
//   T block length, B streams, V vocabulary, H hidden, L layers
#include "training_run.hpp"

#include <filesystem>

#include <xtensor/xview.hpp>

#include "flags.hpp"
#include "paths.hpp"
#include "signals.hpp"
#include "train_setup.hpp"

namespace charlm {
namespace {

// The carried hidden state as checkpoint extras, "state.l<k>.h" and "state.l<k>.c", [B, H]:
// each rank carries its own streams' rows [B/N, H], stacked in rank order on rank 0 (a
// collective: every rank calls it; the other ranks get empty tensors).
tg::NamedTensors state_tensors(const CharLM& model, const tg::TBPTT& tbptt, std::size_t local_batch,
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

std::vector<tg::State> states_from(const tg::NamedTensors& extra, const CharLM& model) {
  const std::size_t S = model.rnn().cell(0).state_size();
  std::vector<tg::State> st(model.config().layers);
  for (std::size_t i = 0; i < extra.size(); ++i) st[i / S].push_back(extra[i].second);
  return st;
}

// Rows [first, first + count) of a [B, H] state: this rank's streams.
tg::Tensor rows_of(const tg::Tensor& t, std::size_t first, std::size_t count) {
  return tg::Tensor::constant(xt::xarray<float>(xt::view(t.value<float>(), xt::range(first, first + count), xt::all())));
}

// Columns [first, first + count) of a [T, B] block: this rank's streams.
xt::xarray<int> streams_of(const xt::xarray<int>& block, std::size_t first, std::size_t count) {
  return xt::view(block, xt::all(), xt::range(first, first + count));
}

}  // namespace

TrainingRun::TrainingRun(const TrainOptions& options) : o_(options), dp_(o_.distributed) {
  check_files(o_);
  tg::set_num_threads(o_.threads);
  corpus_ = o_.data.empty() ? builtin_corpus() : read_corpus(o_.data);
  if (o_.resume) {
    stored_ = tg::read_checkpoint_summary(o_.checkpoint);
    take_flags_from(meta_, o_);
    if (hash_text(corpus_.hash) != required(meta_, "corpus.hash", o_.checkpoint))
      throw InputError(shown(corpus_.name) + " is not the corpus " + shown(o_.checkpoint) +
                       " was trained on (its hash differs)");
    step_ = std::size_t(parse_whole_in(required(meta_, "train.step", o_.checkpoint), limits::kCount,
                                       metadata_name(o_.checkpoint, "train.step")));
    schedule_steps_ = std::size_t(parse_whole_in(required(meta_, "train.schedule_steps", o_.checkpoint),
                                                 limits::kSteps, metadata_name(o_.checkpoint, "train.schedule_steps")));
    check_schedule_horizon(o_, schedule_steps_);
  } else {
    schedule_steps_ = o_.steps;
  }
  // Bad values below throw std::invalid_argument, which main() reports as bad input (exit 2).
  vocab_ = o_.resume ? stored_vocabulary(meta_, o_.checkpoint) : Vocabulary(corpus_.text);
  ids_ = vocab_.encode(corpus_.text, corpus_.name);
  split_ = split_corpus(ids_, o_.val_fraction);
  batcher_ = std::make_unique<StreamBatcher>(split_.train, o_.batch, o_.block);
  config_ = ModelConfig{o_.cell, vocab_.size(), o_.layers, o_.hidden, o_.embed, o_.dropout};
  config_.validate();
  // With --recompute-every k the tape holds one segment of k steps at a time (plus the boundaries).
  check_memory(config_, o_.batch, o_.recompute_every ? std::min(o_.block, o_.recompute_every) : o_.block);
  if (o_.resume) check_stored_shapes(stored_, config_, o_.checkpoint);
  divergence_limit_ = 10 * std::log(double(vocab_.size()));
  dp_.check_same(settings());
  local_batch_ = dp_.streams(o_.batch);  // this rank's streams (all B in a single process)
  first_stream_ = dp_.first_stream(o_.batch);

  tg::manual_seed(o_.seed);
  model_ = std::make_unique<CharLM>(config_);
  opt_ = make_optimizer(o_, *model_);
  sched_ = make_schedule(o_, *opt_, long(schedule_steps_));
  tbptt_ = std::make_unique<tg::TBPTT>(model_->rnn(), o_.block);
  params_ = model_->parameters();
  // The RNG key of this rank's stream (dropout masks) in the checkpoint.
  rng_key_ = dp_.rank() == 0 ? "train.rng_state" : "train.rng_state.rank" + std::to_string(dp_.rank());
  if (o_.resume) restore();
  // Every rank starts from rank 0's weights, and then averages its gradients with the others.
  dp_.start(params_);
  // Dropout masks: rank 0 keeps the single-process stream, every other rank draws its own
  // (equivalence with a single process is exact only without dropout).
  if (!o_.resume && dp_.rank() > 0) tg::manual_seed(o_.seed + 0x9E3779B97F4A7C15ULL * std::uint64_t(dp_.rank()));
  progress_ = std::make_unique<Progress>(o_.steps, !dp_.root());
  log_ = std::make_unique<CsvLog>(dp_.root() ? o_.log : std::string());
}

// What every rank of a distributed run must agree on (checked at start).
std::map<std::string, std::string> TrainingRun::settings() const {
  TrainOptions o = o_;
  std::map<std::string, std::string> s;
  for (const auto& f : trajectory_flags(o)) s[f.flag] = f.get();
  s["--steps"] = std::to_string(o_.steps);
  s["--val-every"] = std::to_string(o_.val_every);
  s["--save-every"] = std::to_string(o_.save_every);
  s["--keep-best"] = o_.keep_best ? "yes" : "no";
  s["--max-seconds"] = std::to_string(o_.max_seconds);
  s["--resume"] = o_.resume ? "yes" : "no";
  s["the resumed step"] = std::to_string(step_);
  s["the corpus hash"] = hash_text(corpus_.hash);
  s["the corpus length"] = std::to_string(corpus_.text.size());
  return s;
}

// --resume: the weights, optimizer, schedule, carried state, best loss and RNG stream.
void TrainingRun::restore() {
  tg::NamedTensors extra = state_tensors(*model_, *tbptt_, o_.batch, DataParallel(false));  // [B, H] each
  auto options = tg::LoadCheckpointOptions().optimizer(*opt_).extra(extra);  // loads into extra's tensors
  if (sched_) options.scheduler(*sched_);                                   // none for a constant lr
  tg::load_checkpoint(o_.checkpoint, *model_, options);
  const std::string& best = required(meta_, "train.best_val", o_.checkpoint);
  best_val_ = best == "inf" ? std::numeric_limits<double>::infinity()
                            : parse_real_in(best, {}, metadata_name(o_.checkpoint, "train.best_val"));
  try {
    // A checkpoint of a run with fewer ranks has no stream for this rank: seed a fresh one.
    if (meta_.count(rng_key_) || dp_.root()) tg::set_rng_state(required(meta_, rng_key_, o_.checkpoint));
    else tg::manual_seed(o_.seed + 0x9E3779B97F4A7C15ULL * std::uint64_t(dp_.rank()) + step_);
  } catch (const std::invalid_argument&) {
    throw InputError(metadata_name(o_.checkpoint, rng_key_) + " is not a random generator state");
  }
  std::vector<tg::State> state = states_from(extra, *model_);
  for (auto& layer : state)
    for (auto& t : layer) t = rows_of(t, first_stream_, local_batch_);  // [B, H] -> this rank's [B/N, H]
  tbptt_->set_state(state);
  saved_ = true;
  saved_step_ = step_;
  if (step_ >= o_.steps)
    throw InputError(shown(o_.checkpoint) + " is already at step " + std::to_string(step_) + "; --steps " +
                     std::to_string(o_.steps) + " is the total, so pass a larger one to train further");
}

// A collective: every rank calls it (the state and RNG streams are gathered); rank 0 writes.
void TrainingRun::save(const std::string& path) {
  const tg::NamedTensors state = state_tensors(*model_, *tbptt_, local_batch_, dp_);
  const std::vector<std::string> rng_states = dp_.allgather(tg::rng_state());
  if (!dp_.root()) return;
  Metadata m = config_.to_metadata();
  for (const auto& f : trajectory_flags(o_)) m[f.key] = f.get();
  m["vocab"] = vocab_.serialize();
  m["corpus.name"] = corpus_.name;
  if (!o_.data.empty()) m["corpus.path"] = std::filesystem::absolute(o_.data).lexically_normal().string();
  m["corpus.hash"] = hash_text(corpus_.hash);
  m["train.step"] = std::to_string(step_);
  m["train.schedule_steps"] = std::to_string(schedule_steps_);
  m["train.best_val"] = tg::exact_text(best_val_);
  m["train.rng_state"] = rng_states[0];
  for (std::size_t r = 1; r < rng_states.size(); ++r) m["train.rng_state.rank" + std::to_string(r)] = rng_states[r];
  if (dp_.distributed()) m["train.ranks"] = std::to_string(dp_.size());
  try {
    const SaveInProgress guard;  // Note [signals]: a second signal now waits for the rename
    auto options = tg::SaveCheckpointOptions().optimizer(*opt_).extra(state).metadata(m);
    if (sched_) options.scheduler(*sched_);  // none for a constant lr
    tg::save_checkpoint(path, *model_, options);
  } catch (const tg::CheckpointError& e) {  // the writer's errors are the disk's (full, read-only, ...)
    throw EnvironmentError(e.what());
  }
  if (path == o_.checkpoint) {
    saved_ = true;
    saved_step_ = step_;
  }
}

ReportRow TrainingRun::report_row(bool with_val) {
  ReportRow r;
  r.step = step_;
  if (window_steps_) r.train_loss = last_train_loss_ = window_loss_ / double(window_steps_);
  if (with_val) {
    r.val_loss = val_loss_;
    r.val_bpc = val_loss_ / std::log(2.0);
  }
  r.lr = opt_->lr();
  r.tokens_per_s = train_time_ > 0 ? double(trained_steps_ * o_.batch * o_.block) / train_time_ : 0;
  r.seconds = seconds_since(wall_start_);
  r.train_seconds = train_time_;
  window_loss_ = 0;
  window_steps_ = 0;
  return r;
}

}  // namespace charlm
