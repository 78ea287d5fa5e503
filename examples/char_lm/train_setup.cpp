// char_lm train, before the first step: the flags that shape the trajectory (and their
// checkpoint keys), the checks of every file and of the memory a run needs, and the
// optimizer and schedule a run uses.
#include "train_setup.hpp"

#include <sys/stat.h>

#include "flags.hpp"
#include "paths.hpp"
#include "report.hpp"

namespace charlm {
namespace {

namespace lim = limits;

// A flag's value as text, and how to read it back (strictly, within the flag's range).
template <class Field>
TrajectoryFlag whole_flag_of(const char* flag, const char* key, Field& v, WholeRange range) {
  return {flag, key, [&v] { return std::to_string(v); },
          [&v, range](const std::string& s, const std::string& name) { v = Field(parse_whole_in(s, range, name)); }};
}

TrajectoryFlag real_flag_of(const char* flag, const char* key, double& v, RealRange range) {
  return {flag, key, [&v] { return tg::exact_text(v); },
          [&v, range](const std::string& s, const std::string& name) { v = parse_real_in(s, range, name); }};
}

TrajectoryFlag name_flag_of(const char* flag, const char* key, std::string& v, std::vector<std::string> names) {
  return {flag, key, [&v] { return v; },
          [&v, names](const std::string& s, const std::string& name) {
            for (const auto& n : names)
              if (s == n) {
                v = s;
                return;
              }
            std::string list;
            for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
            throw InputError(name + " must be one of " + list + ", got '" + tg::quote_input(s, 40) + "'");
          }};
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

std::vector<TrajectoryFlag> trajectory_flags(TrainOptions& o) {
  return {name_flag_of("--cell", "model.cell", o.cell, {"lstm", "gru", "rnn"}),
          whole_flag_of("--layers", "model.layers", o.layers, lim::kLayers),
          whole_flag_of("--hidden", "model.hidden", o.hidden, lim::kWidth),
          whole_flag_of("--embed", "model.embed", o.embed, lim::kWidth),
          real_flag_of("--dropout", "model.dropout", o.dropout, lim::kDropout),
          whole_flag_of("--batch", "train.batch", o.batch, lim::kBatch),
          whole_flag_of("--block", "train.block", o.block, lim::kBlock),
          name_flag_of("--optim", "train.optim", o.optim, {"adam", "adamw", "sgd", "adagrad", "rmsprop"}),
          real_flag_of("--lr", "train.lr", o.lr, lim::kLr),
          name_flag_of("--lr-schedule", "train.lr_schedule", o.lr_schedule, {"constant", "cosine", "step"}),
          whole_flag_of("--warmup", "train.warmup", o.warmup, lim::kCount),
          real_flag_of("--clip", "train.clip", o.clip, lim::kClip),
          real_flag_of("--val-fraction", "train.val_fraction", o.val_fraction, lim::kValFraction),
          whole_flag_of("--seed", "train.seed", o.seed, lim::kSeed)};
}

std::string metadata_name(const std::string& checkpoint, const std::string& key) {
  return "checkpoint " + shown(checkpoint) + ": metadata '" + key + "'";
}

void take_flags_from(const Metadata& meta, TrainOptions& o) {
  TrainOptions stored = o;
  const auto mine = trajectory_flags(o), theirs = trajectory_flags(stored);
  for (std::size_t i = 0; i < mine.size(); ++i) {
    const TrajectoryFlag& f = theirs[i];
    f.parse(required(meta, f.key, o.checkpoint), metadata_name(o.checkpoint, f.key));
    // Both sides as canonical text, so "2e-3" and "0.002" agree.
    if (o.given.count(f.flag) && mine[i].get() != f.get())
      throw InputError(std::string(f.flag) + " " + mine[i].get() + " conflicts with the checkpoint " +
                       shown(o.checkpoint) + ", which was trained with " + f.flag + " " + f.get() +
                       " (drop the flag to resume)");
  }
  o = stored;
}

void check_files(const TrainOptions& o) {
  if (o.resume && o.overwrite)
    throw InputError("--resume continues --checkpoint and --overwrite replaces it: give one of them");
  const std::pair<const char*, const std::string*> paths[] = {{"--data", &o.data}, {"--checkpoint", &o.checkpoint}, {"--log", &o.log}};
  for (const auto& [flag, path] : paths)
    if (o.given.count(flag) && path->empty()) throw InputError(std::string(flag) + " is empty: give a file name");
  if (!o.data.empty()) check_readable_file("--data", o.data);
  if (o.resume) check_readable_file("--checkpoint (to --resume)", o.checkpoint);
  check_writable_file("--checkpoint", o.checkpoint);
  const std::string best = o.checkpoint + ".best", svg = o.log.empty() ? "" : svg_path_for(o.log);
  if (o.keep_best) check_writable_file("--keep-best's file", best);
  if (!o.log.empty()) {
    check_writable_file("--log", o.log);
    check_writable_file("the loss-curve SVG written beside --log", svg);
  }
  check_distinct({{"--data", o.data},
                  {"--checkpoint", o.checkpoint},
                  {"--keep-best's file", o.keep_best ? best : ""},
                  {"--log", o.log},
                  {"the loss-curve SVG beside --log", svg}});
  if (o.resume || o.overwrite) return;
  for (const std::string& path : {o.checkpoint, o.keep_best ? best : std::string()})
    if (!path.empty() && exists(path))
      throw InputError("the checkpoint " + shown(path) +
                       " already exists; pass --resume to continue that run, or --overwrite to replace it");
}

std::unique_ptr<tg::Optimizer> make_optimizer(const TrainOptions& o, const CharLM& model) {
  const tg::NamedTensors params = model.named_parameters();
  if (o.optim == "adam") return std::make_unique<tg::Adam>(params, tg::AdamOptions(o.lr));
  if (o.optim == "adamw")  // decoupled weight decay on matrices only, none on biases
    return std::make_unique<tg::AdamW>(tg::weight_decay_groups(params), tg::AdamWOptions(o.lr));
  if (o.optim == "sgd") return std::make_unique<tg::SGD>(params, tg::SGDOptions(o.lr).momentum(0.9));
  if (o.optim == "adagrad") return std::make_unique<tg::Adagrad>(params, tg::AdagradOptions(o.lr));
  return std::make_unique<tg::RMSprop>(params, tg::RMSpropOptions(o.lr));
}

std::unique_ptr<tg::LRScheduler> make_schedule(const TrainOptions& o, tg::Optimizer& opt, long total) {
  std::unique_ptr<tg::LRScheduler> main;
  if (o.lr_schedule == "cosine") main = std::make_unique<tg::CosineAnnealingLR>(opt, std::max(1L, total - long(o.warmup)));
  if (o.lr_schedule == "step") main = std::make_unique<tg::StepLR>(opt, std::max(1L, total / 4), 0.5);
  if (o.warmup == 0) return main;
  if (!main) return std::make_unique<tg::LinearWarmup>(opt, long(o.warmup));
  return std::make_unique<tg::LinearWarmup>(opt, long(o.warmup), std::move(main));
}

void check_schedule_horizon(const TrainOptions& o, std::size_t schedule_steps) {
  if (o.lr_schedule == "constant" || o.steps <= schedule_steps) return;
  throw InputError("--steps " + std::to_string(o.steps) + " goes past the " + std::to_string(schedule_steps) +
                   " steps the " + o.lr_schedule + " schedule of " + shown(o.checkpoint) +
                   " was planned for, and extending it would change the learning rate abruptly; resume with "
                   "--steps <= " + std::to_string(schedule_steps) + ", or start a new run");
}

}  // namespace charlm
