#pragma once
// Note [deferred weight gradients]: a recurrent weight is read by one small GEMM per time step,
// so its gradient dW [O, I] += dy^T x arrives as T rank-B updates (K = B, 32 say): each one
// streams all of dW through memory for little arithmetic. Instead, linear's backward stages
// the rows of dy [N, O] and x [N, I] of such weights, and at the end of the sweep one GEMM
// with K = T*B adds them all: the same sum, computed at full GEMM speed. Only weights that
// are leaves and only calls with few rows are staged; everything else is immediate.
#include <cstddef>

#include <tapegrad/autograd/detail/tensor_impl.hpp>

namespace tg::detail {

// Rows below this are staged (K = N is too small for an efficient GEMM of its own).
constexpr std::size_t kDeferRowsBelow = 256;
// A weight's stage is added into its gradient when it would grow past this many rows.
constexpr std::size_t kStageRows = 256;

// Stages dW += dy^T x for a leaf weight W [O, I]: dy [N, O], x [N, I].
template <class T>
void defer_weight_grad(TensorImpl& weight, const T* dy, const T* x, std::size_t N);

// Adds every staged gradient into its weight (one GEMM each) and empties the stage; with
// anomaly mode on, throws NonFiniteError naming the weight's shape if one became non-finite.
void flush_deferred_grads();
// Drops the stage without adding it (a backward that failed).
void discard_deferred_grads();

}  // namespace tg::detail
