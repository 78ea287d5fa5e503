#include "recomputed_block.hpp"

#include <xtensor/xview.hpp>

namespace charlm {
namespace {

// One flat list of every layer's state tensors (run_checkpointed carries a flat state) and back.
std::vector<tg::Tensor> flatten(const std::vector<tg::State>& states) {
  std::vector<tg::Tensor> flat;
  for (const tg::State& s : states) flat.insert(flat.end(), s.begin(), s.end());
  return flat;
}

std::vector<tg::State> unflatten(const std::vector<tg::Tensor>& flat, std::size_t per_layer) {
  std::vector<tg::State> states;
  for (std::size_t i = 0; i < flat.size(); i += per_layer)
    states.emplace_back(flat.begin() + long(i), flat.begin() + long(i + per_layer));
  return states;
}

}  // namespace

tg::Tensor recomputed_block_loss(const CharLM& model, tg::TBPTT& tbptt, const xt::xarray<int>& x,
                                 const xt::xarray<int>& y, std::size_t k) {
  const std::size_t T = x.shape()[0], B = x.shape()[1];
  const std::size_t per_layer = model.rnn().cell(0).state_size();
  std::vector<tg::State> start = tbptt.state();
  if (start.empty()) start = model.rnn().initial_state(B);  // a new epoch: zeros
  xt::xarray<std::int64_t> ids = xt::xarray<std::int64_t>::from_shape({T, B, 2});  // [T, B, 2]: input, target
  xt::view(ids, xt::all(), xt::all(), 0) = x;
  xt::view(ids, xt::all(), xt::all(), 1) = y;
  const auto segment = [&model, per_layer](const tg::IdTensor& seg, const std::vector<tg::Tensor>& incoming) {
    const std::size_t steps = seg.shape()[0], batch = seg.shape()[1];
    const xt::xarray<std::int64_t> inputs = xt::view(seg.array(), xt::all(), xt::all(), 0);   // [k, B]
    const xt::xarray<std::int64_t> targets = xt::view(seg.array(), xt::all(), xt::all(), 1);  // [k, B]
    std::vector<tg::State> state = unflatten(incoming, per_layer);
    const tg::Tensor logits = model.forward(tg::IdTensor(inputs), state);  // [k, B, V]; state advances
    // The segment's summed loss: the segments add up to the block's sum, divided once below.
    const tg::Tensor loss = tg::cross_entropy(logits, tg::IdTensor(targets)) * float(steps * batch);
    return tg::SegmentOutput{loss, flatten(state)};
  };
  tg::CheckpointedRun run =
      tg::run_checkpointed(tg::IdTensor(std::move(ids)), flatten(start), segment, tg::SegmentLength::steps(k));
  for (tg::Tensor& s : run.state) s = s.detach();
  tbptt.set_state(unflatten(run.state, per_layer));
  return run.loss / float(T * B);  // the mean over the block, as the plain path's loss
}

}  // namespace charlm
