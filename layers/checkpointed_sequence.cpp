#include <tapegrad/layers/checkpointed_sequence.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>

#include <tapegrad/autograd/checkpoint.hpp>
#include <tapegrad/autograd/detail/node.hpp>
#include <tapegrad/autograd/detail/rng_snapshot.hpp>
#include <tapegrad/autograd/detail/tensor_impl.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

constexpr std::size_t kProbeSteps = 8;  // the segment recorded to measure one step's memory

// Note [segment length]: a segment whose graph holds about 8 MiB ran fastest here (S LSTM,
// B 32, H 128, T 10,000, 1 thread: 16-32 steps at 1.03-1.05x the plain path's time per token;
// 128 steps 1.30x, 256 steps 1.34x, 4 steps 1.19x). Longer segments stream their graph through
// memory in the recomputation and again in the backward; shorter ones pay the per-segment cost.
// So a budget sets the range of k that fits, and the k in it nearest this size is taken.
constexpr std::size_t kFastSegmentBytes = std::size_t(8) << 20;  // of recorded values
// Backward holds a step's gradients beside its values, and the pool keeps the recomputation's
// blocks: a segment's peak was 2.7x its recorded values (S LSTM, k = 50, T = 100,000), so 3x.
constexpr std::size_t kBackwardFactor = 3;
// A boundary keeps the state (the checkpoint's output) and a segment's bookkeeping: its node,
// closure and views. The process grew by 24 KB per segment beyond the state on the same run
// (allocator holes between the long-lived pieces included), so 24 KB.
constexpr std::size_t kSegmentOverheadBytes = 24 << 10;

// Rows [t0, t1) of ids along axis 0: [t1 - t0, ...].
IdTensor rows(const IdTensor& ids, std::size_t t0, std::size_t t1) {
  Shape shape = ids.shape();
  const std::size_t row = shape[0] ? ids.size() / shape[0] : 0;
  shape[0] = t1 - t0;
  xt::xarray<std::int64_t> out = xt::xarray<std::int64_t>::from_shape(shape);
  std::copy_n(ids.data() + t0 * row, (t1 - t0) * row, out.data());
  return IdTensor(out);
}

std::size_t state_bytes(const std::vector<Tensor>& state) {
  std::size_t n = 0;
  for (const auto& s : state) n += s.numel() * dtype_size(s.dtype());
  return n;
}

// fn's outputs checked against what came in, as the vector checkpoint returns: loss, state...
std::vector<Tensor> checked_outputs(SegmentOutput&& out, const std::vector<Tensor>& in) {
  if (!out.loss.defined() || out.loss.numel() != 1)
    throw std::invalid_argument("run_checkpointed: a segment must return a one-element loss, got " +
                                (out.loss.defined() ? "shape " + to_string(out.loss.shape()) : std::string("none")));
  if (out.state.size() != in.size())
    throw std::invalid_argument("run_checkpointed: a segment returned " + std::to_string(out.state.size()) +
                                " state tensors for " + std::to_string(in.size()) + " that came in");
  for (std::size_t i = 0; i < in.size(); ++i)
    if (!out.state[i].defined() || out.state[i].shape() != in[i].shape())
      throw std::invalid_argument("run_checkpointed: state tensor " + std::to_string(i) + " came in with shape " +
                                  to_string(in[i].shape()) + " and went out " +
                                  (out.state[i].defined() ? "with shape " + to_string(out.state[i].shape()) : "undefined"));
  std::vector<Tensor> all{std::move(out.loss)};
  for (auto& s : out.state) all.push_back(std::move(s));
  return all;
}

// The bytes one step records: fn over the first steps, on a tape of its own, then released.
// The library RNG is put back, so the run draws what it would have drawn without the probe.
std::size_t measured_step_bytes(const IdTensor& ids, const std::vector<Tensor>& state, const SegmentFn& fn) {
  const std::size_t steps = std::min(kProbeSteps, ids.shape()[0]);
  const detail::RngSnapshot rng = detail::rng_snapshot();
  std::size_t bytes = 0;
  try {
    const detail::CapturedGraph probe = detail::capture([&] {
      const EnableGradGuard grad_on;
      checked_outputs(fn(rows(ids, 0, steps), state), state);
    });
    // Every value a step writes, also those released since no backward reads them (Note
    // [unread values]): the backward still makes their gradients, and kBackwardFactor was
    // measured against all of them. A view writes nothing of its own.
    for (const auto& n : probe.nodes)
      if (!n.out->base) bytes += numel(n.out->shape) * dtype_size(n.out->dtype);
  } catch (...) {
    detail::restore_rng(rng);
    throw;
  }
  detail::restore_rng(rng);
  return (bytes + steps - 1) / steps;
}

}  // namespace

SegmentLength SegmentLength::steps(std::size_t k) {
  if (k == 0) throw std::invalid_argument("SegmentLength::steps: a segment needs at least one step");
  return SegmentLength(false, k);
}

SegmentLength SegmentLength::memory(std::size_t bytes) {
  if (bytes == 0) throw std::invalid_argument("SegmentLength::memory: the budget must be positive");
  return SegmentLength(true, bytes);
}

std::size_t segment_steps_for_budget(std::size_t bytes, std::size_t T, std::size_t step_bytes, std::size_t boundary_bytes) {
  // memory(k) = k step + ceil(T / k) boundary; of the k that fit, the one nearest the fast
  // length (Note [segment length]). long double: no overflow for any size_t inputs.
  auto memory = [&](std::size_t k) { return (long double)k * step_bytes + (long double)((T + k - 1) / k) * boundary_bytes; };
  // step_bytes counts a step's recorded values kBackwardFactor times
  const std::size_t fast =
      std::clamp<std::size_t>(kBackwardFactor * kFastSegmentBytes / std::max<std::size_t>(step_bytes, 1), 1, T);
  std::size_t best = 0;
  for (std::size_t k = 1; k <= T; ++k) {
    if (memory(k) > (long double)bytes) continue;
    const auto distance = [&](std::size_t a) { return a > fast ? a - fast : fast - a; };
    if (best == 0 || distance(k) < distance(best)) best = k;
  }
  return best;
}

CheckpointedRun run_checkpointed(IdTensor all_ids, const std::vector<Tensor>& state, const SegmentFn& fn,
                                    const SegmentLength& length) {
  // One copy of the ids (none when the caller moves them in), shared by the segments, which
  // cut their rows only when they run: the ids are the one O(T) state besides the boundaries.
  const auto shared = std::make_shared<const IdTensor>(std::move(all_ids));
  const IdTensor& ids = *shared;
  if (!fn) throw std::invalid_argument("run_checkpointed: the segment function is empty");
  if (ids.shape().empty() || ids.shape()[0] == 0)
    throw std::invalid_argument("run_checkpointed: ids must be [T, ...] with T > 0, got shape " + to_string(ids.shape()));
  for (std::size_t i = 0; i < state.size(); ++i)
    if (!state[i].defined()) throw std::invalid_argument("run_checkpointed: state tensor " + std::to_string(i) + " is undefined");
  const std::size_t steps = ids.shape()[0];  // T
  CheckpointedRun run;
  run.segment_steps = std::min(steps, length.value());
  if (length.is_budget()) {
    const std::size_t step = measured_step_bytes(ids, state, fn);
    run.segment_steps = segment_steps_for_budget(length.value(), steps, kBackwardFactor * step,
                                                 state_bytes(state) + kSegmentOverheadBytes);
    if (run.segment_steps == 0)
      throw std::invalid_argument("run_checkpointed: a budget of " + std::to_string(length.value()) +
                                  " bytes does not fit one step (" + std::to_string(kBackwardFactor * step) +
                                  " bytes with its backward, measured) and " +
                                  std::to_string(steps) + " boundary states");
  }
  std::vector<Tensor> carried = state;
  for (std::size_t t0 = 0; t0 < steps; t0 += run.segment_steps) {
    const std::size_t t1 = std::min(steps, t0 + run.segment_steps);
    auto segment = [fn, shared, t0, t1](const std::vector<Tensor>& in) {
      return checked_outputs(fn(rows(*shared, t0, t1), in), in);
    };
    const std::vector<Tensor> out = checkpoint(segment, carried);
    run.loss = run.loss.defined() ? run.loss + reshape(out[0], run.loss.shape()) : out[0];
    carried.assign(out.begin() + 1, out.end());
    ++run.segments;
  }
  run.state = std::move(carried);
  return run;
}

}  // namespace tg
