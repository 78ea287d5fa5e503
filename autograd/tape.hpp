#pragma once
// The per-thread tape: a flat vector of nodes in recording order. backward() is one reverse
// walk over it by index (no topological sort, no recursion), then the tape is released.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

namespace tg {

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

// Turns gradient mode on for a scope, inside a NoGradGuard too (PyTorch's enable_grad):
// checkpoint's recomputation records whatever mode its backward was called in.
class EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

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

}  // namespace tg
