#pragma once
// The per-thread tape: a flat vector of nodes in recording order. backward() is one reverse
// walk over it by index (no topological sort, no recursion), then the tape is released.
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include <xtensor/xstorage.hpp>

namespace tg {

struct ImplBase;

// Non-finite values caught by anomaly mode or by gradient clipping.
class NonFiniteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Gradient mode of the calling thread: off, ops record nothing (sampling, validation).
bool is_grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Anomaly mode (off by default, per thread): every op's value, and every gradient backward
// computes, is checked for NaN/Inf; the first offender throws NonFiniteError naming the op.
bool is_anomaly_enabled();
void set_anomaly_enabled(bool on);
class AnomalyModeGuard {
 public:
  explicit AnomalyModeGuard(bool on = true);
  ~AnomalyModeGuard();
  AnomalyModeGuard(const AnomalyModeGuard&) = delete;
  AnomalyModeGuard& operator=(const AnomalyModeGuard&) = delete;

 private:
  bool previous_;
};

// Releases the calling thread's graph without a backward (an abandoned forward).
void clear_tape();

// Clears the tape when it opens and when it closes: one per training iteration.
class TapeScope {
 public:
  TapeScope() { clear_tape(); }
  ~TapeScope() { clear_tape(); }
  TapeScope(const TapeScope&) = delete;
  TapeScope& operator=(const TapeScope&) = delete;
};

struct TapeStats {
  std::size_t nodes = 0;           // ops recorded since the tape was last released
  std::size_t recorded_bytes = 0;  // bytes of the values those nodes hold
  std::uint64_t epoch = 0;         // generation: changes every time the tape is released
};
TapeStats tape_stats();

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
