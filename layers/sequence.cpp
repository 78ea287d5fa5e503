#include <tapegrad/layers/sequence.hpp>

#include <algorithm>
#include <stdexcept>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/detail/node.hpp>

namespace tg {

SequenceMask::SequenceMask(const IdTensor& mask) {
  if (mask.shape().size() != 2)
    throw std::invalid_argument("SequenceMask: the mask must be [T, B], got " + to_string(mask.shape()));
  steps_ = mask.shape()[0];
  const std::size_t B = mask.shape()[1];
  lengths_.assign(B, 0);
  for (std::size_t b = 0; b < B; ++b) {
    bool ended = false;
    for (std::size_t t = 0; t < steps_; ++t) {
      const std::int64_t m = mask.data()[t * B + b];
      if (m != 0 && m != 1)
        throw std::invalid_argument("SequenceMask: entries must be 0 or 1, got " + std::to_string(m) +
                                    " at [" + std::to_string(t) + ", " + std::to_string(b) + "]");
      if (m == 1 && ended)
        throw std::invalid_argument("SequenceMask: stream " + std::to_string(b) + " has a real step at t = " +
                                    std::to_string(t) + " after padding; a mask must be 1s then 0s");
      if (m == 0) ended = true;
      else lengths_[b] += 1;
    }
  }
  min_length_ = B ? *std::min_element(lengths_.begin(), lengths_.end()) : 0;
}

SequenceMask::SequenceMask(std::vector<std::size_t> lengths, std::size_t steps)
    : lengths_(std::move(lengths)), steps_(steps) {
  for (std::size_t b = 0; b < lengths_.size(); ++b)
    if (lengths_[b] > steps_)
      throw std::invalid_argument("SequenceMask: length " + std::to_string(lengths_[b]) + " of stream " +
                                  std::to_string(b) + " exceeds the " + std::to_string(steps_) + " steps");
  min_length_ = lengths_.empty() ? 0 : *std::min_element(lengths_.begin(), lengths_.end());
}

Tensor SequenceMask::keep(std::size_t t, Dtype dtype) const {
  auto k = Tensor::zeros({batch(), 1}, dtype);
  visit_dtype(dtype, [&](auto v) {
    using T = decltype(v);
    for (std::size_t b = 0; b < batch(); ++b) k.mutable_data<T>()[b] = t < lengths_[b] ? T(1) : T(0);
  });
  return k;
}

IdTensor SequenceMask::as_ids() const {
  xt::xarray<std::int64_t> m = xt::zeros<std::int64_t>({steps_, batch()});
  for (std::size_t b = 0; b < batch(); ++b)
    for (std::size_t t = 0; t < lengths_[b]; ++t) m(t, b) = 1;
  return m;
}

namespace {

SequenceRun run_cell_masked(const Cell& cell, const Tensor& x, std::size_t steps, State state,
                            const SequenceMask* mask, const RunCellOptions& options) {
  const bool reverse = options.direction() == Direction::reverse;
  const std::size_t detach_at = options.detach_at();
  if (x.dim() != 2 || steps == 0 || x.shape()[0] % steps != 0 || x.shape()[1] != cell.input_size())
    throw std::invalid_argument("run_cell: input must be [T*B, I] with T = " + std::to_string(steps) +
                                " and I = " + std::to_string(cell.input_size()) + ", got " +
                                to_string(x.shape()));
  const std::size_t B = x.shape()[0] / steps;
  cell.check_state(state, B, "run_cell");
  if (mask && (mask->steps() != steps || mask->batch() != B))
    throw std::invalid_argument("run_cell: the mask is [" + std::to_string(mask->steps()) + ", " +
                                std::to_string(mask->batch()) + "] but the input is [T, B] = [" +
                                std::to_string(steps) + ", " + std::to_string(B) + "]");
  const Tensor xp = cell.project_input(x);  // [T*B, P]: one GEMM for the whole block
  std::vector<Tensor> outputs(steps);
  for (std::size_t s = 0; s < steps; ++s) {
    const std::size_t t = reverse ? steps - 1 - s : s;
    const detail::TimeStepScope scope(static_cast<long>(t));  // anomaly messages name the step
    if (s == detach_at)
      for (auto& st : state) st = detach(st);
    State next = cell.step_in_context(slice(xp, 0, t * B, B), state, options.context());  // rows of step t: [B, P]
    if (mask && !mask->all_valid(t)) {
      // Padding freezes the state: next = state + keep * (next - state); outputs there are 0.
      const Tensor keep = mask->keep(t, state[0].dtype());  // [B, 1], broadcasts over any width
      for (std::size_t k = 0; k < next.size(); ++k) next[k] = state[k] + keep * (next[k] - state[k]);
      outputs[t] = next[0] * keep;
    } else {
      outputs[t] = next[0];
    }
    state = std::move(next);
  }
  return {concat(outputs, 0), std::move(state)};  // [T*B, H]
}

}  // namespace

SequenceRun run_cell(const Cell& cell, const Tensor& x, std::size_t steps, State state,
                     const RunCellOptions& options) {
  return run_cell_masked(cell, x, steps, std::move(state), nullptr, options);
}

SequenceRun run_cell(const Cell& cell, const Tensor& x, std::size_t steps, State state, const SequenceMask& mask,
                     const RunCellOptions& options) {
  return run_cell_masked(cell, x, steps, std::move(state), &mask, options);
}

}  // namespace tg
