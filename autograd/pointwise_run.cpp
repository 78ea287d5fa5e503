#include <tapegrad/autograd/detail/pointwise_run.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/tensor_impl.hpp>
#include <tapegrad/autograd/detail/thread_pool.hpp>

namespace tg::detail {
namespace {

std::atomic<bool> fusion_enabled{true};
thread_local PointwiseRunStats stats;

// Elements per inner pass of a run: 16 KiB per float array, so the dozen or so arrays a gate's
// chain reads and writes stay in L2 (512 KiB per core here) while every node runs the chunk.
constexpr std::size_t kChunk = 4096;

// How an input whose gradient is dy itself gets it (pass_dy in tape.cpp, chunk by chunk).
enum class Pass { taken, copy, add };  // taken: it owns dy's buffer, nothing left to do
struct Receiver {
  TensorImpl* to;
  void* grad;
  Pass pass;
};

// One node of a run, resolved: what its range reads and writes, and where dy goes.
struct Step {
  Node* node;
  PointwiseArgs args;
  std::array<Receiver, kMaxPointwiseInputs> receivers;
  std::size_t receiver_count = 0;
};

// Resolves node n of a run of `count` elements in sweep order, as the sweep would run it:
// the gradients its range writes, then dy handed to the inputs that take it as it is.
Step resolve(Node& n, std::size_t count) {
  Step s{&n, {}, {}, 0};
  TensorImpl& out = *n.out;
  s.args.dy = out.grad.raw();
  // Only the values the op declared saved (Note [op contract]); the others stay null, and may
  // already be released (Note [unread values]).
  if (n.saves & kOutput) s.args.y = out.value.raw();
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    TensorImpl* in = n.inputs[k];
    if (!in) continue;
    if (n.saves & input_bit(k)) s.args.x[k] = in->value.raw();
    if (!(n.pointwise.writes & input_bit(k)) || !takes_grad(n, k)) continue;
    s.args.fresh[k] = !in->has_grad();  // Note [first write assigns]; a window's is settled later
    if (s.args.fresh[k]) in->grad = Storage(in->dtype, numel(in->shape));
    s.args.dx[k] = in->grad.raw();
  }
  const std::size_t last = last_dy_receiver(n);  // it may take dy's buffer
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    if (!receives_dy(n, k)) continue;
    TensorImpl& in = *n.inputs[k];
    Pass pass = Pass::add;
    if (!in.has_grad() && k == last) {
      in.grad = std::move(out.grad);  // the range still reads dy at s.args.dy: the same memory
      pass = Pass::taken;
    } else if (!in.has_grad()) {
      in.grad = Storage(in.dtype, count);
      pass = Pass::copy;
    }
    s.receivers[s.receiver_count++] = {&in, in.grad.raw(), pass};
  }
  return s;
}

// How the windows of steps[k] for k in `group` (each writing part of one input's gradient) lie:
// disjoint (no element written twice: one stride, their ranges inside it apart), and whether
// they also tile it: disjoint ranges of a slice's stride whose lengths add up to it cover it.
struct WindowLayout {
  bool disjoint, tiles;
};
WindowLayout layout_of(const std::vector<Step>& steps, const std::vector<std::size_t>& group) {
  std::vector<PointwiseWindow> w;
  for (std::size_t k : group) w.push_back(steps[k].node->pointwise.window);
  std::sort(w.begin(), w.end(), [](const auto& a, const auto& b) { return a.offset < b.offset; });
  bool disjoint = true;
  std::size_t covered = 0;
  for (std::size_t k = 0; k < w.size(); ++k) {
    disjoint = disjoint && w[k].stride == w[0].stride && w[k].run > 0 &&
               (k == 0 || w[k - 1].offset + w[k - 1].run <= w[k].offset);
    covered += w[k].run;
  }
  return {disjoint, disjoint && covered == w[0].stride};
}

// Note [windows tile]: a slice writes only a window of its input's gradient, so it may assign
// (Note [first write assigns]) only when the run's slices of that input, together, write every
// element of it: the chunk of a gate matrix into four gates. (Windows of one stride and count
// have as many rows as the input: one tiling its stride tiles the input.) resolve() allocated
// the gradient uninitialised for the first of them (the others found it allocated); here, when
// their windows tile it, all of them assign; otherwise it is zeroed and all add, as slices run
// one by one do. Returns whether two windows of one input overlap (or may: different strides):
// then two pieces of the run could add into one element at once, and in an order other than
// the slices' own, so the run goes serially, each node over all its elements in sweep order.
bool settle_windows(std::vector<Step>& steps) {
  std::vector<bool> settled(steps.size(), false);
  std::vector<std::size_t> group;
  bool overlap = false;
  for (std::size_t a = 0; a < steps.size(); ++a) {
    if (settled[a] || steps[a].node->pointwise.window.stride == 0 || !steps[a].args.dx[0]) continue;
    const TensorImpl* in = steps[a].node->inputs[0];
    group.clear();
    for (std::size_t b = a; b < steps.size(); ++b)
      if (steps[b].node->pointwise.window.stride != 0 && steps[b].node->inputs[0] == in) group.push_back(b);
    const WindowLayout layout = layout_of(steps, group);
    overlap = overlap || !layout.disjoint;
    if (steps[a].args.fresh[0]) {  // this run allocated the gradient: the first of the group
      if (!layout.tiles) std::memset(steps[a].args.dx[0], 0, in->grad.bytes());
      for (std::size_t k : group) steps[k].args.fresh[0] = layout.tiles;
    }
    for (std::size_t k : group) settled[k] = true;
  }
  return overlap;
}

// A run whose gathering failed (a node's check threw) gives back what it allocated: gradients
// that did not exist before it are dropped again, so none is left uninitialised.
void drop_new_gradients(const std::vector<Step>& steps) {
  for (const Step& s : steps) {
    for (std::size_t k = 0; k < s.node->inputs.size() && k < kMaxPointwiseInputs; ++k)
      if (s.args.fresh[k] && s.args.dx[k]) s.node->inputs[k]->grad.reset();
    for (std::size_t r = 0; r < s.receiver_count; ++r)
      if (s.receivers[r].pass != Pass::add) s.receivers[r].to->grad.reset();
  }
}

// Whether node n can join a run of `count` elements (its gradient has reached it).
bool joins(const Node& n, std::size_t count) {
  return n.pointwise.active && numel(n.out->shape) == count && !n.out->retains_grad;
}

// Runs step s over elements [begin, end): its range, then dy to the inputs that take it.
void run_chunk(const Step& s, std::size_t begin, std::size_t end) {
  const Node& n = *s.node;
  if (n.pointwise.range) n.pointwise.range(s.args, begin, end);
  for (std::size_t r = 0; r < s.receiver_count; ++r) {
    const Receiver& to = s.receivers[r];
    if (to.pass == Pass::taken) continue;
    visit_dtype(n.out->dtype, [&](auto t) {
      using T = decltype(t);
      const T* dy = static_cast<const T*>(s.args.dy) + begin;
      T* g = static_cast<T*>(to.grad) + begin;
      if (to.pass == Pass::copy) std::memcpy(g, dy, (end - begin) * sizeof(T));
      else add_into(g, dy, end - begin);
    });
  }
}

}  // namespace

bool is_pointwise_fusion_enabled() { return fusion_enabled.load(std::memory_order_relaxed); }
void set_pointwise_fusion_enabled(bool on) { fusion_enabled.store(on, std::memory_order_relaxed); }
PointwiseRunStats pointwise_run_stats() { return stats; }
void reset_pointwise_run_stats() { stats = {}; }

std::size_t run_pointwise(std::vector<Node>& nodes, std::size_t i) {
  const std::size_t count = numel(nodes[i].out->shape);
  const bool anomaly = is_anomaly_enabled();
  std::vector<Step> steps;
  check_runnable(nodes[i]);
  if (nodes[i].out->retains_grad) nodes[i].out->keep_retained_grad();  // its dy is complete: nothing above is in the run
  steps.push_back(resolve(nodes[i], count));
  std::size_t lowest = i;
  if (is_pointwise_fusion_enabled() && !anomaly) {
    // Nodes no gradient reached are passed over: none can reach them later, as gradients only
    // flow down the tape.
    try {
      for (std::size_t j = i; j-- > 0;) {
        Node& n = nodes[j];
        if (n.out->has_grad()) {
          if (!joins(n, count)) break;
          check_runnable(n);
          steps.push_back(resolve(n, count));
        }
        lowest = j;
      }
    } catch (...) {
      drop_new_gradients(steps);
      throw;
    }
  }
  if (settle_windows(steps)) {
    ++stats.serial_runs;
    for (const Step& s : steps) run_chunk(s, 0, count);
  } else {
    std::size_t cost = 0;  // per element, summed over the run, for how many pieces to cut it into
    for (const Step& s : steps) cost += s.node->pointwise.cost + s.receiver_count;
    parallel_range(count, [&](std::size_t begin, std::size_t end) {
      for (std::size_t b = begin; b < end; b += kChunk) {
        const std::size_t e = std::min(end, b + kChunk);
        for (const Step& s : steps) run_chunk(s, b, e);
      }
    }, cost);
  }
  if (anomaly) check_input_grads(nodes[i]);
  for (const Step& s : steps) s.node->out->release_grad();  // a non-leaf's gradient is spent once passed on
  if (steps.size() > 1) {
    ++stats.runs;
    stats.fused_nodes += steps.size();
  }
  return lowest;
}

}  // namespace tg::detail
