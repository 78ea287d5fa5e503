#pragma once
// train --recompute-every k: one training block through tg::run_checkpointed. The block's T
// steps run as segments of k steps keeping only the states at segment boundaries; each segment
// runs again during backward (dropout masks replayed). The gradient is the plain block's
// (summation order aside) in memory O(T/k + k) steps instead of O(T), so a long --block (full
// BPTT over long stretches of the corpus) fits, for one more forward pass of compute.
//   T block length, B streams, V vocabulary, L layers
#include <tapegrad/tapegrad.hpp>

#include "model.hpp"

namespace charlm {

// The mean cross-entropy of y given x (both [T, B]) from tbptt's carried state, which it then
// advances (detached, as TBPTT::forward does) to the block's final state.
tg::Tensor recomputed_block_loss(const CharLM& model, tg::TBPTT& tbptt, const xt::xarray<int>& x,
                                 const xt::xarray<int>& y, std::size_t k);

}  // namespace charlm
