#include <tapegrad/autograd/tape.hpp>

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/autograd/detail/deferred_grad.hpp>
#include <tapegrad/autograd/detail/node.hpp>
#include <tapegrad/autograd/detail/pointwise_run.hpp>
#include <tapegrad/autograd/detail/tensor_impl.hpp>

namespace tg {
namespace {

std::uint64_t next_epoch() {
  static std::atomic<std::uint64_t> counter{0};
  return ++counter;  // unique across threads: a tensor from another thread's tape is stale here
}

thread_local bool tape_destroyed = false;  // a handle dying at thread exit must not reach it

struct Tape {
  std::vector<detail::Node> nodes;
  std::uint64_t epoch = next_epoch();
  Tape() = default;
  Tape(Tape&&) noexcept = default;  // swept and captured tapes move, never copy their nodes
  Tape& operator=(Tape&&) noexcept = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;
  ~Tape();
};

thread_local Tape tape;
Tape::~Tape() {
  if (this == &tape) tape_destroyed = true;  // not for the swept and captured tapes in locals
}
thread_local bool grad_enabled = true;
thread_local bool anomaly_enabled = false;
thread_local long time_step = -1;

// Whether t is a value this thread's tape made: the only tensors whose handles it counts (Note
// [unread values]). Leaves are never released, and a tensor of another thread's tape is written
// only by that thread, so nothing here writes to a tensor two threads may share.
bool made_here(const TensorImpl& t) { return !t.is_leaf && t.tape_epoch == tape.epoch; }

// A node of the thread's tape holds t: one more handle in its count (Note [unread values]).
void hold(const TensorImpl& t) {
  if (made_here(t)) ++t.tape_refs;
}

// Calls f(slot, k, tensor, what) for each value node n saved: input k in input order, then the
// output; slot is where its version is kept in n.saved_versions.
template <class F>
void for_each_saved(const detail::Node& n, F f) {
  if (!n.saves) return;
  std::size_t slot = 0;
  for (std::size_t k = 0; k < detail::kMaxSavedInputs && k < n.inputs.size(); ++k)
    if ((n.saves & detail::input_bit(k)) && n.inputs[k]) f(slot++, k, *n.inputs[k], "input");
  if (n.saves & detail::kOutput) f(detail::kMaxSavedInputs, 0, *n.out, "output");
}

// "input 1 (a leaf of shape [3, 4], parameter 'fc.weight')", "output (a tensor of shape [3]
// made by 'tanh')"
std::string describe(const TensorImpl& t, const char* what, std::size_t k) {
  std::string s = what;
  if (std::string(what) == "input") s += " " + std::to_string(k);
  s += t.is_leaf ? " (a leaf of shape " + to_string(t.shape)
                 : " (a tensor of shape " + to_string(t.shape) + " made by '" + t.op + "'";
  if (!t.name.empty()) s += ", parameter '" + t.name + "'";
  return s + ")";
}

[[noreturn]] void throw_modified(const detail::Node& n, const TensorImpl& t, const char* what, std::size_t k,
                                 std::uint64_t then, std::uint64_t now) {
  throw std::logic_error("backward: op '" + std::string(n.op) + "'" + detail::time_step_text(n.time_step) +
                         " saved its " + describe(t, what, k) +
                         " for its backward, and that value was written in place afterwards (version " +
                         std::to_string(now) + ", saved at version " + std::to_string(then) +
                         "): the gradient would be wrong. Write after backward(), or into a copy.");
}

// Note [versions]: a value a backward reads must be the one its op saw.
void check_saved_versions(const detail::Node& n) {
  for_each_saved(n, [&](std::size_t slot, std::size_t k, const TensorImpl& t, const char* what) {
    if (t.version() != n.saved_versions[slot]) throw_modified(n, t, what, k, n.saved_versions[slot], t.version());
  });
}

std::string stale_message(const detail::Node& n) {
  return "backward: op '" + std::string(n.op) + "' reads a tensor produced by '" + n.stale->op +
         "' whose graph was already released by an earlier backward() (or recorded on another "
         "thread). In truncated BPTT, detach the carried state at the block boundary "
         "(h = tg::detach(h)) so each block's graph ends there; do not retain the graph.";
}

// The inputs whose gradient is dy itself get it; the last of them may take dy's buffer
// (Note [op contract]). The output's own retained copy, if any, was taken before.
void pass_dy(detail::Node& n) {
  if (!n.passes_dy) return;
  const std::size_t last = detail::last_dy_receiver(n);
  for (std::size_t k = 0; k <= last && k < n.inputs.size(); ++k)
    if (detail::receives_dy(n, k)) n.inputs[k]->add_gradient_of(*n.out, k == last);
}

}  // namespace

namespace detail {
bool receives_dy(const Node& n, std::size_t k) {
  return k < 31 && (n.passes_dy & input_bit(k)) && takes_grad(n, k);
}
std::size_t last_dy_receiver(const Node& n) {
  std::size_t last = n.inputs.size();
  for (std::size_t k = 0; k < n.inputs.size(); ++k)
    if (receives_dy(n, k)) last = k;
  return last;
}
bool takes_grad(const Node& n, std::size_t k) {
  return n.inputs[k] && n.inputs[k]->requires_grad && (k >= 31 || (n.wanted & input_bit(k)));
}
void check_runnable(const Node& n) {
  if (n.stale) throw std::logic_error(stale_message(n));
  check_saved_versions(n);
}
void throw_unsaved_read(const Node& n, std::size_t k) {
  const std::string what = k == kMaxSavedInputs ? "its output" : "its input " + std::to_string(k);
  throw std::logic_error("tapegrad internal error: the backward of op '" + std::string(n.op) + "' reads " + what +
                         ", which the op did not declare saved (Note [op contract])");
}
void check_input_grads(const Node& n) {
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    const TensorImpl* in = n.inputs[k];
    if (in && in->requires_grad && !in->grad_finite())
      throw NonFiniteError("anomaly: the backward of op '" + std::string(n.op) + "'" +
                           detail::time_step_text(n.time_step) +
                           " produced a NaN/Inf gradient for its input of shape " + to_string(in->shape));
  }
}
}  // namespace detail

namespace {

// After a sweep: what a nested forward left behind is dropped, and the swept graph is either
// the thread's tape again (retain_graph) or released, its capacity kept for the next iteration.
void end_sweep(Tape&& swept, bool retain_graph) {
  clear_tape();
  if (retain_graph) {
    tape = std::move(swept);
    return;
  }
  std::vector<detail::Node> dead;
  dead.swap(swept.nodes);
  dead.clear();  // node destructors free impls, never touch the tape
  tape.nodes.swap(dead);
}

}  // namespace

bool is_grad_enabled() { return grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = previous_; }
EnableGradGuard::EnableGradGuard() : previous_(grad_enabled) { grad_enabled = true; }
EnableGradGuard::~EnableGradGuard() { grad_enabled = previous_; }

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

bool tape_references(const TensorImpl& t) {
  auto is_t = [&](const TensorImpl* x) { return x && (x == &t || x->base.get() == &t); };
  for (const Node& n : tape.nodes) {
    if (is_t(n.out.get())) return true;
    for (std::size_t k = 0; k < n.inputs.size(); ++k)
      if (is_t(n.inputs[k])) return true;
  }
  return false;
}

void NodeInputs::push_back(std::shared_ptr<TensorImpl> p) {
  if (n_ < kInline) inline_[n_] = std::move(p);
  else more_.push_back(std::move(p));
  ++n_;
}

void record_op(const char* op, const std::shared_ptr<TensorImpl>& out, const std::shared_ptr<TensorImpl>* inputs,
               std::size_t n, TensorSet saves, TensorSet passes_dy, std::shared_ptr<void> data,
               std::function<void(Node&)> backward, PointwiseBackward pointwise) {
  Node node;
  node.op = op;
  for (std::size_t k = 0; k < n; ++k) {
    const auto& in = inputs[k];
    if (in && in->requires_grad && !in->is_leaf && in->tape_epoch != tape.epoch) node.stale = in.get();
    node.inputs.push_back(in);
  }
  out->requires_grad = true;
  out->is_leaf = false;
  out->op = op;
  node.out = out;
  node.saves = saves;
  node.passes_dy = passes_dy;
  node.data = std::move(data);
  node.backward = std::move(backward);
  node.pointwise = std::move(pointwise);
  record(std::move(node));
}

void record(Node&& node) {
  constexpr TensorSet kSavable = (TensorSet(1) << kMaxSavedInputs) - 1;
  if (node.saves & ~(kSavable | kOutput))
    throw std::logic_error(std::string("tapegrad internal error: op '") + node.op + "' saves an input past " +
                           std::to_string(kMaxSavedInputs - 1));
  node.out->tape_epoch = tape.epoch;
  node.out->tape_index = tape.nodes.size();
  node.time_step = time_step;
  node.wanted = 0;
  for (std::size_t k = 0; k < node.inputs.size() && k < 31; ++k)
    if (node.inputs[k] && node.inputs[k]->requires_grad) node.wanted |= input_bit(k);
  // Note [unread values]: the output's count starts here; count the handles this tape holds,
  // then mark what it reads
  node.out->tape_refs = 0;
  node.out->read_by_backward = false;
  hold(*node.out);
  for (std::size_t k = 0; k < node.inputs.size(); ++k)
    if (node.inputs[k]) hold(*node.inputs[k]);
  for_each_saved(node, [&](std::size_t slot, std::size_t, const TensorImpl& t, const char*) {
    node.saved_versions[slot] = t.version();
    keep_for_backward(t);
  });
  tape.nodes.push_back(std::move(node));
}

void keep_for_backward(const TensorImpl& t) {
  if (made_here(t)) t.read_by_backward = true;  // others are never released
}

void release_if_unread(const std::shared_ptr<TensorImpl>& handle) noexcept {
  TensorImpl& t = *handle;
  // Only a value this thread's tape made and holds, that no backward reads, that no view
  // borrows, and that no handle but the dying one (or another holder of the impl) can reach.
  if (tape_destroyed || t.base || !made_here(t) || t.read_by_backward || t.view_count || t.value.empty() ||
      handle.use_count() != long(t.tape_refs) + 1)
    return;
  t.value = Storage();  // back to the pool, for the next op to write while it is in cache
}

namespace {

// Sweeps the thread's tape from node `last` down to node 0 (the roots' gradients are seeded).
void sweep_from(std::size_t last, bool retain_graph) {
  // Note [op contract]: the swept graph leaves the thread's tape, so a backward that records
  // (a nested forward and backward) does so on a fresh tape of its own.
  Tape swept = std::exchange(tape, Tape());
  flush_deferred_grads();  // an enclosing sweep's staged rows, so that a failure here drops only ours
  try {
    for (std::size_t i = last + 1; i-- > 0;) {
      Node& n = swept.nodes[i];
      if (!n.out->has_grad()) continue;  // no gradient reached this node
      if (n.pointwise.active) {  // Note [pointwise runs]: this node and the pointwise ones below it
        i = run_pointwise(swept.nodes, i);
        continue;
      }
      check_runnable(n);
      if (n.backward) n.backward(n);
      if (!tape.nodes.empty()) clear_tape();  // what that backward recorded and left behind
      if (n.out->retains_grad) n.out->keep_retained_grad();
      pass_dy(n);
      if (anomaly_enabled) detail::check_input_grads(n);
      n.out->release_grad();  // a non-leaf's gradient is spent once passed on
    }
    flush_deferred_grads();  // Note [deferred weight gradients]
  } catch (...) {
    discard_deferred_grads();
    for (auto& n : swept.nodes) n.out->release_grad();  // gradients left on non-leaf outputs
    end_sweep(std::move(swept), retain_graph);
    throw;
  }
  end_sweep(std::move(swept), retain_graph);
}

}  // namespace

void backward_from(TensorImpl& root, bool retain_graph) { sweep_from(root.tape_index, retain_graph); }

const Node* CapturedGraph::outside_input() const {
  for (const Node& n : nodes)
    if (n.stale) return &n;
  return nullptr;
}

CapturedGraph capture(const std::function<void()>& f) {
  Tape outer = std::exchange(tape, Tape());
  try {
    f();
  } catch (...) {
    tape = std::move(outer);  // what f recorded is released
    throw;
  }
  CapturedGraph graph{std::move(tape.nodes), tape.epoch};
  tape = std::move(outer);
  return graph;
}

void backward_captured(CapturedGraph&& graph, const std::vector<const TensorImpl*>& roots) {
  std::size_t last = 0;
  bool any = false;
  for (const TensorImpl* r : roots)
    if (!r->is_leaf && r->tape_epoch == graph.epoch) {
      last = std::max(last, r->tape_index);
      any = true;
    }
  Tape outer = std::exchange(tape, Tape());
  tape.nodes = std::move(graph.nodes);
  tape.epoch = graph.epoch;
  try {
    if (any) sweep_from(last, false);
  } catch (...) {
    tape = std::move(outer);
    throw;
  }
  tape = std::move(outer);
}

}  // namespace detail
}  // namespace tg
