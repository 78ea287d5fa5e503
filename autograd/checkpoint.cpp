// Gradient checkpointing (Note [checkpoint] in checkpoint.hpp) on the re-entrant tape: the
// forward runs fn on a tape of its own and keeps only its outputs; the node's backward runs
// fn again on a fresh tape, seeds the outputs with dy and sweeps that graph.
#include <tapegrad/autograd/checkpoint.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/detail/rng_snapshot.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

// What a checkpoint node keeps: enough to run fn again, never fn's intermediates.
struct Segment {
  CheckpointFn fn;
  bool recompute = true;
  // The library RNG's state when fn first ran, kept only when fn drew from it (dropout)
  std::unique_ptr<detail::RngSnapshot> rng;
  std::vector<Shape> shapes;            // fn's outputs; the node's output is them end to end
  std::vector<std::uint64_t> versions;  // each input's version when fn first ran
  // recompute off: the forward's own graph, the leaves fn saw and what it returned
  detail::CapturedGraph graph;
  std::vector<Tensor> leaves, outputs;
};

// A leaf sharing x's memory and version (a view, Note [views]) that requires grad when x does:
// what fn sees in place of x, so its graph ends there.
Tensor leaf_view(const std::shared_ptr<TensorImpl>& x) {
  auto v = std::make_shared<TensorImpl>();
  v->shape = x->shape;
  v->dtype = x->dtype;
  v->value = Storage::borrowed(x->value.raw(), x->dtype, numel(x->shape));
  v->set_base(x);
  v->requires_grad = x->requires_grad;
  v->name = x->name;
  return detail::wrap(std::move(v));
}

struct Run {
  std::vector<Tensor> leaves, outputs;
  detail::CapturedGraph graph;
};

// fn on leaf views of the inputs, recorded on a tape of its own.
Run run_segment(const CheckpointFn& fn, const std::vector<std::shared_ptr<TensorImpl>>& inputs) {
  Run r;
  for (const auto& x : inputs) r.leaves.push_back(leaf_view(x));
  r.graph = detail::capture([&] { r.outputs = fn(r.leaves); });
  if (const detail::Node* n = r.graph.outside_input())
    throw std::logic_error("checkpoint: op '" + std::string(n->op) + "' inside fn reads a tensor of shape " +
                           to_string(n->stale->shape) + " made by '" + n->stale->op +
                           "' that requires grad but is not one of checkpoint's inputs, so its gradient "
                           "could not be passed on. Pass it in `inputs`, or detach it.");
  if (r.outputs.empty()) throw std::invalid_argument("checkpoint: fn returned no tensor");
  for (std::size_t k = 0; k < r.outputs.size(); ++k)
    if (!r.outputs[k].defined())
      throw std::invalid_argument("checkpoint: fn's output " + std::to_string(k) + " is an undefined tensor");
  return r;
}

// Sets the library RNG to `state` for the lifetime of the guard (when there is one), then puts
// the old one back.
class RngReplay {
 public:
  explicit RngReplay(const detail::RngSnapshot* state) : active_(state != nullptr) {
    if (!active_) return;
    resume_ = detail::rng_snapshot();
    detail::restore_rng(*state);
  }
  ~RngReplay() {
    if (active_) detail::restore_rng(resume_);
  }
  RngReplay(const RngReplay&) = delete;
  RngReplay& operator=(const RngReplay&) = delete;

 private:
  bool active_;
  detail::RngSnapshot resume_;
};

std::vector<std::shared_ptr<TensorImpl>> node_inputs(const detail::Node& n) {
  std::vector<std::shared_ptr<TensorImpl>> xs;
  for (std::size_t k = 0; k < n.inputs.size(); ++k) xs.push_back(n.inputs.handle(k));
  return xs;
}

void check_inputs_unchanged(const detail::Node& n, const Segment& seg) {
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    const TensorImpl& x = *n.inputs[k];
    if (x.version() != seg.versions[k])
      throw std::logic_error("backward: checkpoint's input " + std::to_string(k) + " (a tensor of shape " +
                             to_string(x.shape) + (x.name.empty() ? "" : ", parameter '" + x.name + "'") +
                             ") was written in place after the forward (version " + std::to_string(x.version()) +
                             ", saved at version " + std::to_string(seg.versions[k]) +
                             "): the recomputation would differ. Write after backward(), or into a copy.");
  }
}

// The checkpoint node's backward: fn's graph again (or kept), seeded with dy, swept; then the
// leaves' gradients go to the inputs.
template <class T>
void segment_backward(detail::Node& n) {
  auto& seg = *static_cast<Segment*>(n.data.get());
  check_inputs_unchanged(n, seg);
  Run r;
  if (seg.recompute) {
    const RngReplay replay(seg.rng.get());  // dropout inside fn draws the same masks
    const EnableGradGuard grad_on;
    r = run_segment(seg.fn, node_inputs(n));
  } else {
    if (seg.graph.nodes.empty() && seg.outputs.empty())
      throw std::logic_error("backward: a checkpoint with recompute off keeps its graph for one backward only");
    r.leaves = std::move(seg.leaves);
    r.outputs = std::move(seg.outputs);
    r.graph = std::move(seg.graph);
  }
  if (r.outputs.size() != seg.shapes.size())
    throw std::logic_error("backward: checkpoint's fn returned " + std::to_string(r.outputs.size()) +
                           " tensors when recomputed, " + std::to_string(seg.shapes.size()) +
                           " the first time; fn must be deterministic");
  const T* dy = n.out->grad.data<T>();  // [sum of the outputs' sizes]
  std::vector<const TensorImpl*> roots;
  std::size_t at = 0;
  for (std::size_t k = 0; k < r.outputs.size(); ++k) {
    TensorImpl& o = detail::impl_of(r.outputs[k]);
    if (o.shape != seg.shapes[k])
      throw std::logic_error("backward: checkpoint's fn returned shape " + to_string(o.shape) + " for output " +
                             std::to_string(k) + " when recomputed, " + to_string(seg.shapes[k]) +
                             " the first time; fn must be deterministic");
    const std::size_t size = numel(o.shape);
    if (o.requires_grad && size) {
      if (o.dtype != n.out->dtype)
        throw std::logic_error("backward: checkpoint's fn returned a " + std::string(dtype_name(o.dtype)) +
                               " output when recomputed, " + dtype_name(n.out->dtype) +
                               " the first time; fn must be deterministic");
      detail::add_into(o.grad_acc<T>(), dy + at, size);  // the output's gradient is its piece of dy
      roots.push_back(&o);
    }
    at += size;
  }
  detail::backward_captured(std::move(r.graph), roots);
  for (std::size_t k = 0; k < r.leaves.size(); ++k) {
    TensorImpl& leaf = detail::impl_of(r.leaves[k]);
    TensorImpl& x = *n.inputs[k];
    if (x.requires_grad && leaf.has_grad()) x.add_gradient_of(leaf, true);  // the leaf's buffer, or added
  }
}

}  // namespace

namespace {

// Records the checkpoint node whose output holds fn's outputs (all of dtype T) end to end, and
// returns views of it in their shapes.
template <class T>
std::vector<Tensor> record_segment(std::shared_ptr<Segment> seg, Run& r,
                                   const std::vector<std::shared_ptr<TensorImpl>>& xs) {
  std::size_t total = 0;
  for (const auto& o : r.outputs) {
    seg->shapes.push_back(o.shape());
    total += o.numel();
  }
  auto out = detail::new_output<T>("checkpoint", Shape{total});
  std::size_t at = 0;
  for (const auto& o : r.outputs) {
    std::copy_n(o.data<T>(), o.numel(), out->value.template data<T>() + at);
    at += o.numel();
  }
  for (const auto& x : xs) seg->versions.push_back(x->version());
  if (!seg->recompute) {
    seg->graph = std::move(r.graph);
    seg->leaves = std::move(r.leaves);
    seg->outputs = std::move(r.outputs);
  }  // else r's graph is released here: fn's intermediates are not kept
  detail::record_op("checkpoint", out, xs.data(), xs.size(), 0, 0, seg,
                    [](detail::Node& self) { segment_backward<T>(self); });
  for (const auto& x : xs) detail::keep_for_backward(*x);  // the backward runs fn on them again
  const Tensor all = detail::wrap(std::move(out));
  std::vector<Tensor> results;
  at = 0;
  for (const Shape& s : seg->shapes) {
    results.push_back(reshape(slice(all, 0, at, numel(s)), s));  // views of the node's output
    at += numel(s);
  }
  return results;
}

}  // namespace

std::vector<Tensor> checkpoint(const CheckpointFn& fn, const std::vector<Tensor>& inputs,
                               const CheckpointOptions& options) {
  if (!fn) throw std::invalid_argument("checkpoint: fn is empty");
  for (std::size_t k = 0; k < inputs.size(); ++k)
    if (!inputs[k].defined()) throw std::invalid_argument("checkpoint: input " + std::to_string(k) + " is undefined");
  if (!is_grad_enabled()) return fn(inputs);  // nothing would be recorded, so nothing to save
  auto seg = std::make_shared<Segment>();
  seg->fn = fn;
  seg->recompute = options.recompute();
  auto rng_before = std::make_unique<detail::RngSnapshot>(detail::rng_snapshot());
  std::vector<std::shared_ptr<TensorImpl>> xs;
  for (const auto& x : inputs) xs.push_back(detail::impl_ptr(x));
  Run r = run_segment(fn, xs);
  if (detail::rng_snapshot() != *rng_before) seg->rng = std::move(rng_before);  // fn drew: replay it
  bool records = !r.graph.nodes.empty();  // fn differentiated something
  for (const auto& o : r.outputs) records = records || o.requires_grad();
  if (!records) return r.outputs;  // no gradient can flow: fn's outputs as they are
  // The node's output holds fn's outputs end to end, so they share one dtype.
  const Dtype dtype = detail::common_dtype("checkpoint (fn's outputs)", r.outputs);
  return visit_dtype(dtype, [&](auto t) { return record_segment<decltype(t)>(seg, r, xs); });
}

}  // namespace tg
