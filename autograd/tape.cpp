#include <tapegrad/autograd/tape.hpp>

#include <atomic>
#include <vector>

#include <tapegrad/autograd/detail/deferred_grad.hpp>
#include <tapegrad/autograd/detail/node.hpp>
#include <tapegrad/autograd/detail/tensor_impl.hpp>

namespace tg {
namespace {

std::uint64_t next_epoch() {
  static std::atomic<std::uint64_t> counter{0};
  return ++counter;  // unique across threads: a tensor from another thread's tape is stale here
}

struct Tape {
  std::vector<detail::Node> nodes;
  std::uint64_t epoch = next_epoch();
};

thread_local Tape tape;
thread_local bool grad_enabled = true;
thread_local bool anomaly_enabled = false;
thread_local long time_step = -1;

// Drops the gradients that backward left on non-leaf outputs (after an exception, say).
void release_node_grads() {
  for (auto& n : tape.nodes) n.out->release_grad();
}

std::string stale_message(const detail::Node& n) {
  return "backward: op '" + std::string(n.op) + "' reads a tensor produced by '" + n.stale->op +
         "' whose graph was already released by an earlier backward() (or recorded on another "
         "thread). In truncated BPTT, detach the carried state at the block boundary "
         "(h = tg::detach(h)) so each block's graph ends there; do not retain the graph.";
}

}  // namespace

bool is_grad_enabled() { return grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = previous_; }

bool is_anomaly_enabled() { return anomaly_enabled; }
void set_anomaly_enabled(bool on) { anomaly_enabled = on; }
AnomalyModeGuard::AnomalyModeGuard(bool on) : previous_(anomaly_enabled) { anomaly_enabled = on; }
AnomalyModeGuard::~AnomalyModeGuard() { anomaly_enabled = previous_; }

void clear_tape() {
  // Move the nodes out first: their destructors free impls, never touch the tape.
  std::vector<detail::Node> dead;
  dead.swap(tape.nodes);
  tape.epoch = next_epoch();
  dead.clear();
  tape.nodes.reserve(dead.capacity());  // keep the capacity for the next iteration
}

TapeStats tape_stats() {
  TapeStats s;
  s.nodes = tape.nodes.size();
  s.epoch = tape.epoch;
  for (const auto& n : tape.nodes) s.recorded_bytes += n.out->value_bytes();
  return s;
}

namespace detail {

std::uint64_t current_epoch() { return tape.epoch; }

TimeStepScope::TimeStepScope(long t) : previous_(time_step) { time_step = t; }
TimeStepScope::~TimeStepScope() { time_step = previous_; }
long current_time_step() { return time_step; }
std::string time_step_text(long t) { return t >= 0 ? " at time step " + std::to_string(t) : std::string(); }

void record(Node&& node) {
  node.out->tape_epoch = tape.epoch;
  node.out->tape_index = tape.nodes.size();
  node.time_step = time_step;
  tape.nodes.push_back(std::move(node));
}

void backward_from(ImplBase& root, bool retain_graph) {
  try {
    for (std::size_t i = root.tape_index + 1; i-- > 0;) {
      Node& n = tape.nodes[i];
      if (!n.out->has_grad()) continue;  // no gradient reached this node
      if (n.stale) throw std::logic_error(stale_message(n));
      n.backward();
      if (anomaly_enabled)
        for (const ImplBase* in : n.inputs)
          if (!in->grad_finite())
            throw NonFiniteError("anomaly: the backward of op '" + std::string(n.op) +
                                 "'" + time_step_text(n.time_step) +
                                 " produced a NaN/Inf gradient for its input of shape " + to_string(in->shape));
      if (n.out->retains_grad) n.out->keep_retained_grad();
      n.out->release_grad();  // a non-leaf's gradient is spent once passed on
    }
    detail::flush_deferred_grads();  // Note [deferred weight gradients]
  } catch (...) {
    detail::discard_deferred_grads();
    release_node_grads();
    if (!retain_graph) clear_tape();
    throw;
  }
  if (!retain_graph) clear_tape();
}

}  // namespace detail
}  // namespace tg
