#pragma once
// Tensors with names, in order: a module's parameters, an optimizer's state, a checkpoint's
// entries ("rnn.weight_ih_l0", "out.bias").
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/autograd/tensor.hpp>

namespace tg {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace tg
