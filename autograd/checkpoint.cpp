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
template <class T>
struct Segment {
  CheckpointFn<T> fn;
  bool recompute = true;
  // The library RNG's state when fn first ran, kept only when fn drew from it (dropout)
  std::unique_ptr<detail::RngSnapshot> rng;
  std::vector<Shape> shapes;            // fn's outputs; the node's output is them end to end
  std::vector<std::uint64_t> versions;  // each input's version when fn first ran
  // recompute off: the forward's own graph, the leaves fn saw and what it returned
  detail::CapturedGraph graph;
  std::vector<TensorT<T>> leaves, outputs;
};

// A leaf sharing x's memory and version (a view, Note [views]) that requires grad when x does:
// what fn sees in place of x, so its graph ends there.
template <class T>
TensorT<T> leaf_view(const std::shared_ptr<TensorImpl<T>>& x) {
  auto v = std::make_shared<TensorImpl<T>>();
  v->shape = x->shape;
  v->value = Buffer<T>::borrowed(x->value.data(), numel(x->shape));
  v->base = x->base ? x->base : x;
  v->requires_grad = x->requires_grad;
  v->name = x->name;
  return detail::wrap(std::move(v));
}

template <class T>
struct Run {
  std::vector<TensorT<T>> leaves, outputs;
  detail::CapturedGraph graph;
};

// fn on leaf views of the inputs, recorded on a tape of its own.
template <class T>
Run<T> run_segment(const CheckpointFn<T>& fn, const std::vector<std::shared_ptr<TensorImpl<T>>>& inputs) {
  Run<T> r;
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

template <class T>
std::vector<std::shared_ptr<TensorImpl<T>>> node_inputs(const detail::Node& n) {
  std::vector<std::shared_ptr<TensorImpl<T>>> xs;
  for (std::size_t k = 0; k < n.inputs.size(); ++k)
    xs.push_back(std::static_pointer_cast<TensorImpl<T>>(n.inputs.handle(k)));
  return xs;
}

template <class T>
void check_inputs_unchanged(const detail::Node& n, const Segment<T>& seg) {
  for (std::size_t k = 0; k < n.inputs.size(); ++k) {
    const ImplBase& x = *n.inputs[k];
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
  auto& seg = *static_cast<Segment<T>*>(n.data.get());
  check_inputs_unchanged(n, seg);
  Run<T> r;
  if (seg.recompute) {
    const RngReplay replay(seg.rng.get());  // dropout inside fn draws the same masks
    const EnableGradGuard grad_on;
    r = run_segment(seg.fn, node_inputs<T>(n));
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
  const T* dy = static_cast<const TensorImpl<T>&>(*n.out).grad.data();  // [sum of the outputs' sizes]
  std::vector<const ImplBase*> roots;
  std::size_t at = 0;
  for (std::size_t k = 0; k < r.outputs.size(); ++k) {
    TensorImpl<T>& o = detail::impl_of(r.outputs[k]);
    if (o.shape != seg.shapes[k])
      throw std::logic_error("backward: checkpoint's fn returned shape " + to_string(o.shape) + " for output " +
                             std::to_string(k) + " when recomputed, " + to_string(seg.shapes[k]) +
                             " the first time; fn must be deterministic");
    const std::size_t size = numel(o.shape);
    if (o.requires_grad && size) {
      detail::add_into(o.grad_acc(), dy + at, size);  // the output's gradient is its piece of dy
      roots.push_back(&o);
    }
    at += size;
  }
  detail::backward_captured(std::move(r.graph), roots);
  for (std::size_t k = 0; k < r.leaves.size(); ++k) {
    TensorImpl<T>& leaf = detail::impl_of(r.leaves[k]);
    TensorImpl<T>& x = static_cast<TensorImpl<T>&>(*n.inputs[k]);
    if (x.requires_grad && leaf.has_grad()) x.add_gradient_of(leaf, true);  // the leaf's buffer, or added
  }
}

}  // namespace

template <class T>
std::vector<TensorT<T>> checkpoint(const CheckpointFn<T>& fn, const std::vector<TensorT<T>>& inputs,
                                   const CheckpointOptions& options) {
  if (!fn) throw std::invalid_argument("checkpoint: fn is empty");
  for (std::size_t k = 0; k < inputs.size(); ++k)
    if (!inputs[k].defined()) throw std::invalid_argument("checkpoint: input " + std::to_string(k) + " is undefined");
  if (!is_grad_enabled()) return fn(inputs);  // nothing would be recorded, so nothing to save
  auto seg = std::make_shared<Segment<T>>();
  seg->fn = fn;
  seg->recompute = options.recompute;
  auto rng_before = std::make_unique<detail::RngSnapshot>(detail::rng_snapshot());
  std::vector<std::shared_ptr<TensorImpl<T>>> xs;
  for (const auto& x : inputs) xs.push_back(detail::impl_ptr(x));
  Run<T> r = run_segment(fn, xs);
  if (detail::rng_snapshot() != *rng_before) seg->rng = std::move(rng_before);  // fn drew: replay it
  bool records = !r.graph.nodes.empty();  // fn differentiated something
  for (const auto& o : r.outputs) records = records || o.requires_grad();
  if (!records) return r.outputs;  // no gradient can flow: fn's outputs as they are
  // The node's output holds fn's outputs end to end; each returned output is a view of it.
  std::size_t total = 0;
  for (const auto& o : r.outputs) {
    seg->shapes.push_back(o.shape());
    total += o.numel();
  }
  auto out = detail::new_output<T>("checkpoint", Shape{total});
  std::size_t at = 0;
  for (const auto& o : r.outputs) {
    std::copy_n(o.data(), o.numel(), out->value.data() + at);
    at += o.numel();
  }
  for (const auto& x : inputs) seg->versions.push_back(x.version());
  if (!options.recompute) {
    seg->graph = std::move(r.graph);
    seg->leaves = std::move(r.leaves);
    seg->outputs = std::move(r.outputs);
  }  // else r's graph is released here: fn's intermediates are not kept
  const std::vector<std::shared_ptr<ImplBase>> handles(xs.begin(), xs.end());
  detail::record_op("checkpoint", out, handles.data(), handles.size(), 0, 0, seg,
                    [](detail::Node& self) { segment_backward<T>(self); });
  const TensorT<T> all = detail::wrap(std::move(out));
  std::vector<TensorT<T>> results;
  at = 0;
  for (const Shape& s : seg->shapes) {
    results.push_back(reshape(slice(all, 0, at, numel(s)), s));  // views of the node's output
    at += numel(s);
  }
  return results;
}

template std::vector<TensorT<float>> checkpoint(const CheckpointFn<float>&, const std::vector<TensorT<float>>&,
                                                const CheckpointOptions&);
template std::vector<TensorT<double>> checkpoint(const CheckpointFn<double>&, const std::vector<TensorT<double>>&,
                                                 const CheckpointOptions&);

}  // namespace tg
