#pragma once
// What save_checkpoint and load_checkpoint handle besides the model, as named setters that
// chain (libtorch's style): unset parts are left out of the file, or left alone by a load.
//
//   tg::save_checkpoint(path, model, tg::SaveCheckpointOptions().optimizer(opt).metadata({{"cell", "lstm"}}));
//   auto meta = tg::load_checkpoint(path, model, tg::LoadCheckpointOptions().optimizer(opt).extra(extra));
//
// Note [checkpoint options lifetimes]: extra tensors and metadata are held by value, so options
// built on a temporary (`.metadata({{"k", "v"}})`) cannot dangle; the tensors are handles, so a
// load still writes into the caller's tensors. The optimizer and scheduler are held by address:
// they belong to the caller and must outlive every call the options are passed to (a temporary
// one is refused at compile time).
#include <map>
#include <string>
#include <utility>

#include <tapegrad/autograd/named_tensors.hpp>
#include <tapegrad/optim/optimizer.hpp>
#include <tapegrad/optim/schedule.hpp>

namespace tg {

class SaveCheckpointOptions {
 public:
  // Its state, group lrs and weight decays ("optim.<state name>", "tapegrad.optimizer...").
  SaveCheckpointOptions& optimizer(const Optimizer& o) { optimizer_ = &o; return *this; }
  SaveCheckpointOptions& optimizer(const Optimizer&&) = delete;
  // Its kind, position and base lrs ("tapegrad.scheduler...").
  SaveCheckpointOptions& scheduler(const LRScheduler& s) { scheduler_ = &s; return *this; }
  SaveCheckpointOptions& scheduler(const LRScheduler&&) = delete;
  // Tensors saved as "extra.<name>" (a carried hidden state, ...).
  SaveCheckpointOptions& extra(NamedTensors e) { extra_ = std::move(e); return *this; }
  // Caller metadata, saved as given (keys starting with "tapegrad." are reserved).
  SaveCheckpointOptions& metadata(std::map<std::string, std::string> m) { metadata_ = std::move(m); return *this; }

  const Optimizer* optimizer() const { return optimizer_; }  // null when not set
  const LRScheduler* scheduler() const { return scheduler_; }
  const NamedTensors& extra() const { return extra_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  const Optimizer* optimizer_ = nullptr;
  const LRScheduler* scheduler_ = nullptr;
  NamedTensors extra_;
  std::map<std::string, std::string> metadata_;
};

class LoadCheckpointOptions {
 public:
  // Restores its state, group lrs and weight decays; the file must hold a state of its kind.
  LoadCheckpointOptions& optimizer(Optimizer& o) { optimizer_ = &o; return *this; }
  // Restores its position and base lrs; the file must hold a schedule of its kind.
  LoadCheckpointOptions& scheduler(LRScheduler& s) { scheduler_ = &s; return *this; }
  // Tensors written in place from "extra.<name>" (each must exist with that tensor's shape).
  LoadCheckpointOptions& extra(NamedTensors e) { extra_ = std::move(e); return *this; }

  Optimizer* optimizer() const { return optimizer_; }  // null when not set
  LRScheduler* scheduler() const { return scheduler_; }
  const NamedTensors& extra() const { return extra_; }

 private:
  Optimizer* optimizer_ = nullptr;
  LRScheduler* scheduler_ = nullptr;
  NamedTensors extra_;
};

}  // namespace tg
