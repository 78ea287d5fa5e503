#pragma once
// The tape's internals: the node an op records, and the sweep over them. Internal to tapegrad.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <xtensor/xstorage.hpp>

#include <tapegrad/autograd/tape.hpp>

namespace tg {

struct ImplBase;

namespace detail {

struct Node {
  const char* op = "";
  std::shared_ptr<ImplBase> out;
  xt::svector<ImplBase*, 3> inputs;   // the inputs that require grad (owned by `backward`)
  std::function<void()> backward;     // adds out's gradient into the inputs' gradients
  const ImplBase* stale = nullptr;    // an input whose own graph was already released
  long time_step = -1;                // the sequence step that recorded it (-1: none)
};

// Sequence runners mark the time step they are recording, so anomaly mode can say where the
// first NaN/Inf appeared ("... at time step 17").
class TimeStepScope {
 public:
  explicit TimeStepScope(long t);
  ~TimeStepScope();
  TimeStepScope(const TimeStepScope&) = delete;
  TimeStepScope& operator=(const TimeStepScope&) = delete;

 private:
  long previous_;
};
long current_time_step();
// " at time step t" when t >= 0, else "".
std::string time_step_text(long t);

std::uint64_t current_epoch();
// Appends a node; sets out->tape_epoch/tape_index.
void record(Node&& node);
// Reverse sweep from the node that produced `root` (whose gradient is already seeded).
void backward_from(ImplBase& root, bool retain_graph);

}  // namespace detail
}  // namespace tg
