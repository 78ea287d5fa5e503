#pragma once
// The tape's internals: the node an op records, and the sweep over them. Internal to tapegrad.
//
// Note [op contract]: a node owns everything its backward needs, and its backward borrows it.
// - The node holds a handle to every input (undefined optional inputs as null), the output,
//   and the values the forward computed for the backward (`data`: a mask, softmax rows, ids).
// - The backward is a function of the node (detail::Grad in op_helpers.hpp gives it typed
//   access to dy, the inputs and the data); its closure holds scalars only (sizes, an axis,
//   a scale), which finish() enforces: it must be trivially copyable.
// - An op declares which values its backward reads (`saves`: inputs, the output). The node
//   keeps their versions (Note [versions] in tensor.hpp) and the engine refuses to run the
//   backward when one of them was written in place since.
// - An op declares the inputs whose gradient is dy itself (`passes_dy`: add, a reshape, a
//   residual). The engine adds dy into them after the backward ran, and the last of them takes
//   dy's buffer when it has no gradient yet: no copy, and no op can read dy after handing it on.
// - Backward is re-entrant: while a node's backward runs, the thread records on a fresh tape,
//   so it may run a nested forward and backward (recomputation, replay) without touching the
//   graph being swept.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/autograd/tape.hpp>

namespace tg {

struct TensorImpl;

namespace detail {

// A set of a node's tensors: bit k is input k, kOutput the output.
using TensorSet = std::uint32_t;
constexpr std::size_t kMaxSavedInputs = 6;  // inputs 0..5 can be saved (no op saves more)
constexpr TensorSet input_bit(std::size_t k) { return TensorSet(1) << k; }
constexpr TensorSet kOutput = TensorSet(1) << 31;

// What a pointwise node's backward reads and writes (Note [pointwise runs] in pointwise_run.hpp),
// resolved by the engine before it runs: dy, the output's and inputs' values, and the gradient
// of each input the backward writes (null when that input takes none) with whether that
// gradient is written for the first time (Note [first write assigns]).
constexpr std::size_t kMaxPointwiseInputs = 3;
struct PointwiseArgs {
  const void* dy = nullptr;
  const void* y = nullptr;
  std::array<const void*, kMaxPointwiseInputs> x{};
  std::array<void*, kMaxPointwiseInputs> dx{};
  std::array<bool, kMaxPointwiseInputs> fresh{};
};

// A pointwise op whose input 0 is larger than its output (a slice that keeps part of an axis):
// output element i is input element (i / run) * stride + offset + i % run, so the backward
// writes only that window of input 0's gradient (Note [windows tile] in pointwise_run.cpp).
// stride == 0: no window, every input has the output's size.
struct PointwiseWindow {
  std::size_t run = 0;     // contiguous output elements per outer index
  std::size_t stride = 0;  // input elements per outer index
  std::size_t offset = 0;  // where the window starts inside each stride
};

// The backward of an op whose output element i depends on element i of each input it writes a
// gradient for (or on one element of input 0's window), and of nothing else the backward
// writes: the gradients over elements [begin, end) only, so the engine can run a chain of such
// nodes chunk by chunk.
struct PointwiseBackward {
  bool active = false;   // the op recorded its backward this way (then Node::backward is empty)
  std::function<void(const PointwiseArgs&, std::size_t begin, std::size_t end)> range;  // may be empty
  TensorSet writes = 0;  // the inputs range writes, each of the output's size but a windowed input 0
  std::size_t cost = 1;  // work per element relative to an add (detail::Cost)
  PointwiseWindow window;  // of input 0, when range writes only part of its gradient
};

// The handles of a node's inputs: four inline (every op but concat), more on the heap.
class NodeInputs {
 public:
  void push_back(std::shared_ptr<TensorImpl> p);
  std::size_t size() const { return n_; }
  TensorImpl* operator[](std::size_t k) const { return handle(k).get(); }  // null: an undefined optional input
  const std::shared_ptr<TensorImpl>& handle(std::size_t k) const { return k < kInline ? inline_[k] : more_[k - kInline]; }

 private:
  static constexpr std::size_t kInline = 4;
  std::array<std::shared_ptr<TensorImpl>, kInline> inline_;
  std::vector<std::shared_ptr<TensorImpl>> more_;
  std::size_t n_ = 0;
};

struct Node {
  const char* op = "";
  std::shared_ptr<TensorImpl> out;
  NodeInputs inputs;
  TensorSet saves = 0;      // the values the backward reads (Note [versions])
  TensorSet passes_dy = 0;  // inputs whose gradient is dy itself, added by the engine
  // Inputs that required grad when the op was recorded (bits k < 31; set by record()). An input
  // takes a gradient only if it still requires one at backward and did then: what the op saved
  // was chosen by requires_grad at record time, so a parameter unfrozen in between gets no
  // gradient from this graph (PyTorch: the graph has no path to it).
  TensorSet wanted = 0;
  std::array<std::uint64_t, kMaxSavedInputs + 1> saved_versions{};  // in bit order, the output last
  std::shared_ptr<void> data;                 // what the forward computed for the backward
  std::function<void(Node&)> backward;        // adds into the inputs' gradients; may be empty
  PointwiseBackward pointwise;                // instead of backward, for a pointwise op (empty otherwise)
  const TensorImpl* stale = nullptr;            // an input whose own graph was already released
  long time_step = -1;                        // the sequence step that recorded it (-1: none)
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

// A graph recorded apart from the thread's tape: a checkpointed segment's (checkpoint.cpp).
struct CapturedGraph {
  std::vector<Node> nodes;
  std::uint64_t epoch = 0;
  // The first node that reads a non-leaf requiring grad from outside the graph, or null.
  const Node* outside_input() const;
};
// Runs f with the calling thread recording on a fresh tape of its own, and returns what it
// recorded; the thread's tape is as before afterwards (also when f throws).
CapturedGraph capture(const std::function<void()>& f);
// Backward over a captured graph whose roots' gradients the caller has seeded (roots may be
// leaves: then there is nothing to sweep for them), then releases it.
void backward_captured(CapturedGraph&& graph, const std::vector<const TensorImpl*>& roots);

std::uint64_t current_epoch();
// Records an op: marks `out` as its non-leaf output, builds the node from the inputs (null for
// an undefined optional input; an input whose graph was released makes the node stale), what
// the op declared (saves, passes_dy, data) and its backward, and appends it (record).
void record_op(const char* op, const std::shared_ptr<TensorImpl>& out, const std::shared_ptr<TensorImpl>* inputs,
               std::size_t n, TensorSet saves, TensorSet passes_dy, std::shared_ptr<void> data,
               std::function<void(Node&)> backward, PointwiseBackward pointwise = {});
// Appends a node: sets out->tape_epoch/tape_index, the node's time step and the versions of
// the values it saves.
void record(Node&& node);
// Marks t's value as read by a backward of the thread's tape, for an op whose backward reads
// inputs it cannot declare in `saves` (checkpoint recomputes from all of them): Note [unread values].
void keep_for_backward(const TensorImpl& t);
// Whether a node on this thread's tape reads t or a view of it (Module::to refuses then).
bool tape_references(const TensorImpl& t);
// Whether input k of n takes a gradient from n: defined, requiring grad now and when recorded.
bool takes_grad(const Node& n, std::size_t k);
// Whether input k of n takes dy itself as its gradient (passes_dy, defined, requires grad),
// and the last input that does, which may take dy's buffer (Note [op contract]);
// n.inputs.size() when none does.
bool receives_dy(const Node& n, std::size_t k);
std::size_t last_dy_receiver(const Node& n);
// std::logic_error when node n cannot run its backward: it reads a released graph (stale), or
// a value it saved was written in place since (Note [versions]).
void check_runnable(const Node& n);
// Anomaly mode's check after a backward: NonFiniteError naming n's op and time step when it
// gave an input a NaN/Inf gradient.
void check_input_grads(const Node& n);
// Reverse sweep from the node that produced `root` (whose gradient is already seeded).
void backward_from(TensorImpl& root, bool retain_graph);

}  // namespace detail
}  // namespace tg
