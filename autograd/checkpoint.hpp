#pragma once
// Gradient checkpointing (Chen et al. 2016): run a piece of the forward without keeping its
// intermediates, and run it again during backward to rebuild them. Memory for a long
// unrolled sequence becomes O(T/k + k) steps instead of O(T).
//
//   auto out = tg::checkpoint([&](const std::vector<tg::Tensor>& in) {
//     auto [h, c] = cell.step(x_t, in[0], in[1]);   // any ops, any parameters
//     return std::vector<tg::Tensor>{h, c};
//   }, {h, c});
#include <functional>
#include <vector>

#include <tapegrad/autograd/tensor.hpp>

namespace tg {

using CheckpointFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

class CheckpointOptions {
 public:
  // Off: the segment keeps its graph from the forward instead (the same computation, with
  // the same segmentation and summation order, for testing and measuring); that graph serves
  // one backward only (a second, under retain_graph, is std::logic_error).
  CheckpointOptions& recompute(bool value) { recompute_ = value; return *this; }
  bool recompute() const { return recompute_; }

 private:
  bool recompute_ = true;
};

// Note [checkpoint]: returns fn(inputs), recording one node instead of fn's graph.
// - fn sees each input as a leaf that shares the input's memory, and may use any parameter;
//   gradients reach the inputs that require grad and every parameter fn uses.
// - fn runs again inside backward(): whatever it captures by reference must still be alive
//   then (capture tensors and small objects by value).
// - fn must be deterministic given its inputs, the parameters and the library RNG: when fn
//   draws from the RNG (dropout), the state it started from is kept, restored for the
//   recomputation and then put back, so dropout masks replay identically.
// - A non-leaf that requires grad but reaches fn other than through `inputs` (captured by the
//   lambda, say) is std::logic_error: its gradient could not be passed on.
// - An input written in place between the forward and the backward is std::logic_error at
//   backward, as for any op (Note [versions]).
// - It nests, it works under NoGradGuard (fn simply runs), and anomaly mode names the op
//   inside fn that produced a NaN/Inf, in the forward and in the recomputation.
// std::invalid_argument when fn returns no tensor or an undefined one, or an input is undefined.
// std::invalid_argument also when fn's outputs have different dtypes (they are kept end to end).
std::vector<Tensor> checkpoint(const CheckpointFn& fn, const std::vector<Tensor>& inputs,
                               const CheckpointOptions& options = {});

}  // namespace tg
