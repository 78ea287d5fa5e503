#pragma once
// Gradient clipping, torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
// Only leaves that require grad and have a gradient buffer take part (others are skipped, and
// still have no gradient afterwards: Note [which parameters step() updates]).
//
// Note [non-finite gradient norm]: when the total norm is NaN or infinite (a NaN or an infinite
// gradient element), clip_grad_norm throws tg::NonFiniteError naming the first offending
// parameter and leaves every gradient untouched, so a diverged step can never be applied
// silently: catch it and skip the step (zero_grad()), or stop training. clip_grad_value throws
// the same way for a NaN element (±inf is clamped to ±v like any other value).
#include <vector>

#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/autograd/named_tensors.hpp>

namespace tg {

// Scales all gradients together so that their total L2 norm is at most max_norm:
// with total = ‖(g_1, ..., g_n)‖₂ (accumulated in double), every gradient is multiplied by
// max_norm / (total + 1e-6) when that factor is < 1. Returns total, the norm before clipping.
// max_norm = +inf measures the norm (and checks it is finite) without clipping.
// std::invalid_argument if max_norm is negative or NaN.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);
double clip_grad_norm(const NamedTensors& params, double max_norm);

// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value(const std::vector<Tensor>& params, double clip_value);
void clip_grad_value(const NamedTensors& params, double clip_value);

}  // namespace tg
