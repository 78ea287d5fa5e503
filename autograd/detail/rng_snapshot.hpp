#pragma once
// The library RNG's state as a value (2.5 KB, no text): what checkpoint keeps to replay a
// segment's dropout masks. Internal to tapegrad; rng_state() is the public, textual form.
#include <random>

namespace tg::detail {

using RngSnapshot = std::mt19937_64;

RngSnapshot rng_snapshot();
void restore_rng(const RngSnapshot& snapshot);

}  // namespace tg::detail
