#pragma once
// char_lm train, before the first step: the flags that shape the trajectory, the checks of the
// files and of the memory a run needs, the optimizer and the schedule.
//   T block length, B streams, V vocabulary, H hidden, L layers
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

#include "model.hpp"
#include "options.hpp"
#include "session.hpp"

namespace charlm {

// A training flag that shapes the trajectory: stored in the checkpoint under `key`, taken
// from it on --resume (read as strictly as the flag), and an error if given with another value.
struct TrajectoryFlag {
  const char* flag;
  const char* key;
  std::function<std::string()> get;  // canonical text
  // Reads text into the option; InputError naming `name` if it is not a valid value.
  std::function<void(const std::string& text, const std::string& name)> parse;
};
std::vector<TrajectoryFlag> trajectory_flags(TrainOptions& o);

// "checkpoint PATH: metadata 'KEY'", the name of a metadata value in errors.
std::string metadata_name(const std::string& checkpoint, const std::string& key);

// --resume: the checkpoint's flags win; a conflicting flag on the command line is an error.
void take_flags_from(const Metadata& meta, TrainOptions& o);

// Every file a run reads or writes, before any work: readable inputs, writable outputs (their
// folders too), no file named twice, and no existing checkpoint replaced without --overwrite.
void check_files(const TrainOptions& o);

std::unique_ptr<tg::Optimizer> make_optimizer(const TrainOptions& o, const CharLM& model);
// constant | cosine over `total` steps | step (x0.5 every quarter), after an optional warm-up.
std::unique_ptr<tg::LRScheduler> make_schedule(const TrainOptions& o, tg::Optimizer& opt, long total);
// --resume with a larger --steps: a cosine or step schedule was planned for `schedule_steps`
// and cannot be extended without a jump in the learning rate, so that is refused.
void check_schedule_horizon(const TrainOptions& o, std::size_t schedule_steps);

}  // namespace charlm
