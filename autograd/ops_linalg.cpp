// Linear algebra: matmul, transpose and the fused linear layer op, on BLAS GEMM that writes
// (and in backward, accumulates with beta = 1) straight into pooled buffers.
#include <algorithm>
#include <climits>
#include <memory>
#include <vector>

#include <tapegrad/autograd/detail/deferred_grad.hpp>
#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

void require_matrix(const char* op, const char* name, const Shape& s) {
  if (s.size() != 2)
    throw std::invalid_argument(std::string(op) + ": " + name + " must be 2-D, got shape " +
                                to_string(s));
}

// BLAS takes its sizes as int: a product with no empty side (BLAS is called) and a size past
// INT_MAX would be truncated into a wrong product, so it is refused. Empty sides never reach BLAS.
void require_blas_sizes(const char* op, std::size_t M, std::size_t N, std::size_t K, const Shape& a,
                        const Shape& b) {
  if (M && N && K && std::max({M, N, K}) > std::size_t(INT_MAX))
    throw std::invalid_argument(detail::shapes_message(op, "a size exceeds BLAS's int range (INT_MAX)", a, b));
}

// The output [rows, cols] of a product of a and b; a size that overflows names both inputs.
template <class T>
std::shared_ptr<TensorImpl> product_output(const char* op, const Shape& os, const Shape& a, const Shape& b) {
  try {
    checked_numel(op, os, sizeof(T));
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(
        detail::shapes_message(op, "the result " + to_string(os) + " has too many elements (its size overflows)", a, b));
  }
  return detail::new_output<T>(op, os);
}

// dst[c, r] = src[r, c] for a [rows, cols] matrix, in cache-sized tiles.
template <class T>
void transpose_into(T* dst, const T* src, std::size_t rows, std::size_t cols, bool accumulate) {
  if (rows == 0 || cols == 0) return;  // nothing to move; [2^40, 0] must not walk 2^35 tiles
  constexpr std::size_t tile = 32;
  for (std::size_t r0 = 0; r0 < rows; r0 += tile)
    for (std::size_t c0 = 0; c0 < cols; c0 += tile)
      for (std::size_t r = r0; r < std::min(rows, r0 + tile); ++r)
        for (std::size_t c = c0; c < std::min(cols, c0 + tile); ++c) {
          if (accumulate) dst[c * rows + r] += src[r * cols + c];
          else dst[c * rows + r] = src[r * cols + c];
        }
}

}  // namespace

// Note [batched matmul]: a is [..., M, K] and b is [..., K, N] (a vector a is a row [1, K] and
// a vector b a column [K, 1], and that dimension is dropped from the result, as in numpy and
// PyTorch). The batch dimensions (all but the last two) broadcast; output batch i reads batch
// a_of[i] of a and b_of[i] of b, so a broadcast operand is never materialised. When b has one
// batch (a 2-D weight, say) and a is not broadcast, the batches of a are rows of one
// [batches * M, K] matrix and the product is a single GEMM, forward and backward.
struct BatchMap {
  Shape shape;                     // the output's batch dimensions
  std::vector<std::size_t> a_of, b_of;  // [batches]: the batch of a and of b each output batch reads
  std::size_t a_count = 1, b_count = 1;  // batches a and b hold
};

// Which batch of `in` (batch dims `in_shape`) each batch of the broadcast `out_shape` reads.
std::vector<std::size_t> batch_sources(const Shape& in_shape, const Shape& out_shape) {
  const std::size_t n = numel(out_shape), rank = out_shape.size();
  const Shape stride = detail::broadcast_strides(in_shape, out_shape);
  std::vector<std::size_t> source(n);
  Shape idx(rank, 0);  // odometer over out_shape
  std::size_t at = 0;
  for (std::size_t i = 0; i < n; ++i) {
    source[i] = at;
    for (std::size_t d = rank; d-- > 0;) {
      at += stride[d];
      if (++idx[d] < out_shape[d]) break;
      at -= stride[d] * out_shape[d];
      idx[d] = 0;
    }
  }
  return source;
}

template <class T>
Tensor matmul_kernel(const Tensor& a, const Tensor& b) {
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  if (as.empty() || bs.empty())
    throw std::invalid_argument(detail::shapes_message("matmul", "both operands need at least 1 dimension", as, bs));
  const bool a_vector = as.size() == 1, b_vector = bs.size() == 1;
  const std::size_t M = a_vector ? 1 : as[as.size() - 2], K = as.back();
  const std::size_t Kb = b_vector ? bs[0] : bs[bs.size() - 2], N = b_vector ? 1 : bs.back();
  if (Kb != K)
    throw std::invalid_argument(detail::shapes_message(
        "matmul", "inner dimensions differ, a is [..., M, K] and b must be [..., K, N]", as, bs));
  require_blas_sizes("matmul", M, N, K, as, bs);
  auto map = std::make_shared<BatchMap>();
  const Shape a_batch(as.begin(), as.end() - std::min<std::size_t>(2, as.size()));
  const Shape b_batch(bs.begin(), bs.end() - std::min<std::size_t>(2, bs.size()));
  try {
    map->shape = broadcast_shapes("matmul", a_batch, b_batch);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(detail::shapes_message("matmul", "the batch dimensions do not broadcast", as, bs));
  }
  Shape os = map->shape;
  if (!a_vector) os.push_back(M);
  if (!b_vector) os.push_back(N);
  auto out = product_output<T>("matmul", os, as, bs);
  const std::size_t batches = numel(map->shape);
  map->a_count = numel(a_batch);
  map->b_count = numel(b_batch);
  // One GEMM over the rows of every batch of a (Note [batched matmul]); K = 0 gives zeros, as in
  // PyTorch (kernels.cpp: BLAS is not called).
  const bool folded = map->b_count == 1 && map->a_count == batches && batches * M <= std::size_t(INT_MAX);
  T* C = out->value.template data<T>();
  if (numel(os) == 0) {
    // Nothing to compute, and no backward (Note [empty tensors]); the batches may still be
    // many ([3, 4] x [2^40, 4, 0]), so none is walked.
  } else if (folded) {
    detail::gemm(false, false, batches * M, N, K, T(1), detail::values<T>(a), K, detail::values<T>(b), N, T(0), C, N);
  } else {
    map->a_of = batch_sources(a_batch, map->shape);
    map->b_of = batch_sources(b_batch, map->shape);
    for (std::size_t i = 0; i < batches; ++i)  // C[i] [M, N] = A[a_of[i]] . B[b_of[i]]
      detail::gemm(false, false, M, N, K, T(1), detail::values<T>(a) + map->a_of[i] * M * K, K,
                   detail::values<T>(b) + map->b_of[i] * K * N, N, T(0), C + i * M * N, N);
  }
  // dA reads B and dB reads A: each is saved only when the other takes a gradient
  const detail::TensorSet saves = (a.requires_grad() ? detail::input_bit(1) : 0) |
                                  (b.requires_grad() ? detail::input_bit(0) : 0);
  return detail::finish<T>("matmul", out, {detail::impl_ptr(a), detail::impl_ptr(b)}, {saves, 0, map},
                           [M, N, K, batches, folded](const detail::Grad<T>& g) {
    const T* dC = g.dy();  // [batches, M, N]
    const BatchMap& map = g.template data<BatchMap>();
    bool fresh;  // a new gradient is written with beta = 0 (Note [first write assigns])
    if (folded) {
      // dA [batches*M, K] += dC [batches*M, N] . B^T
      if (g.needs(0)) {
        T* dA = g.grad_for_overwrite(0, fresh);
        detail::gemm(false, true, batches * M, K, N, T(1), dC, N, g.x(1), N, fresh ? T(0) : T(1), dA, K);
      }
      // dB [K, N] += A^T . dC, over every batch's rows at once
      if (g.needs(1)) {
        T* dB = g.grad_for_overwrite(1, fresh);
        detail::gemm(true, false, K, N, batches * M, T(1), g.x(0), K, dC, N, fresh ? T(0) : T(1), dB, N);
      }
      return;
    }
    // Per batch. An operand every batch reads once may be written with beta = 0; a broadcast
    // one sums over the batches that read it, so it accumulates into a zeroed gradient.
    if (g.needs(0)) {  // dA[a_of[i]] [M, K] += dC[i] [M, N] . B[b_of[i]]^T
      const bool once = map.a_count == batches;
      T* dA = once ? g.grad_for_overwrite(0, fresh) : g.grad_acc(0);
      const T beta = once && fresh ? T(0) : T(1);
      for (std::size_t i = 0; i < batches; ++i)
        detail::gemm(false, true, M, K, N, T(1), dC + i * M * N, N, g.x(1) + map.b_of[i] * K * N, N, beta,
                     dA + map.a_of[i] * M * K, K);
    }
    if (g.needs(1)) {  // dB[b_of[i]] [K, N] += A[a_of[i]]^T . dC[i]
      const bool once = map.b_count == batches;
      T* dB = once ? g.grad_for_overwrite(1, fresh) : g.grad_acc(1);
      const T beta = once && fresh ? T(0) : T(1);
      for (std::size_t i = 0; i < batches; ++i)
        detail::gemm(true, false, K, N, M, T(1), g.x(0) + map.a_of[i] * M * K, K, dC + i * M * N, N, beta,
                     dB + map.b_of[i] * K * N, N);
    }
  });
}

template <class T>
Tensor transpose_kernel(const Tensor& x) {
  require_matrix("transpose", "x", x.shape());
  const std::size_t R = x.shape()[0], C = x.shape()[1];
  auto out = detail::new_output<T>("transpose", {C, R});
  transpose_into(out->value.template data<T>(), detail::values<T>(x), R, C, false);
  return detail::finish<T>("transpose", out, {detail::impl_ptr(x)}, {}, [R, C](const detail::Grad<T>& g) {
    transpose_into(g.grad_acc(0), g.dy(), C, R, true);  // dx += dy^T
  });
}

template <class T>
Tensor linear_kernel(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& residual) {
  require_matrix("linear", "x", x.shape());
  require_matrix("linear", "weight", weight.shape());
  const std::size_t N = x.shape()[0], I = x.shape()[1], O = weight.shape()[0];
  if (weight.shape()[1] != I)
    throw std::invalid_argument(detail::shapes_message(
        "linear", "x is [N, I] so weight must be [O, I]", x.shape(), weight.shape()));
  if (bias.defined() && numel(bias.shape()) != O)
    throw std::invalid_argument("linear: bias must have O = " + std::to_string(O) +
                                " elements ([O] or [1, O]), got shape " + to_string(bias.shape()) +
                                " for weight " + to_string(weight.shape()));
  if (bias.defined() && !(bias.dim() == 1 || (bias.dim() == 2 && bias.shape()[0] == 1)))
    throw std::invalid_argument("linear: bias must be [O] or [1, O], got shape " + to_string(bias.shape()));
  if (residual.defined() && residual.shape() != Shape{N, O})
    throw std::invalid_argument(detail::shapes_message("linear", "the residual must be [N, O] = [" +
                                std::to_string(N) + ", " + std::to_string(O) + "]", x.shape(), residual.shape()));
  require_blas_sizes("linear", N, O, I, x.shape(), weight.shape());
  // I = 0 gives the bias (or zeros) in every row, as in PyTorch.
  auto out = product_output<T>("linear", {N, O}, x.shape(), weight.shape());
  T* y = out->value.template data<T>();
  // y [N, O] = residual + b + x [N, I] . W^T (W stored [O, I]): one pass writes residual + b
  // into y, then the GEMM accumulates onto it (beta = 1) instead of a second pass over y.
  const T* res = residual.defined() ? detail::values<T>(residual) : nullptr;
  const T* b = bias.defined() ? detail::values<T>(bias) : nullptr;
  if (res && b && O != 0) {  // (O = 0: nothing to write, however many rows)
    detail::parallel_pieces(N, detail::elementwise_chunks(N * O), [&](std::size_t begin, std::size_t end) {
      for (std::size_t r = begin; r < end; ++r)
        for (std::size_t j = 0; j < O; ++j) y[r * O + j] = res[r * O + j] + b[j];
    });
  } else if (res || b) {  // Note [copies on the pool]
    detail::copy_rows(y, O, res ? res : b, res ? O : 0, N, O);
  }
  const bool prefilled = res || b;
  detail::gemm(false, true, N, O, I, T(1), detail::values<T>(x), I, detail::values<T>(weight), I, prefilled ? T(1) : T(0), y, O);
  // dx reads W and dW reads x: each is saved only when the other takes a gradient; the
  // residual's gradient is dy itself (passes_dy)
  const detail::TensorSet saves = (x.requires_grad() ? detail::input_bit(1) : 0) |
                                  (weight.requires_grad() ? detail::input_bit(0) : 0);
  return detail::finish<T>("linear", out,
                           {detail::impl_ptr(x), detail::impl_ptr(weight), detail::impl_ptr(bias), detail::impl_ptr(residual)},
                           {saves, detail::input_bit(3)}, [N, I, O](const detail::Grad<T>& g) {
    const T* dy = g.dy();  // [N, O]
    // dx [N, I] += dy [N, O] . W [O, I]; a new dx is written with beta = 0 (Note [first write assigns])
    if (g.needs(0)) {
      bool fresh;
      T* dx = g.grad_for_overwrite(0, fresh);
      detail::gemm(false, false, N, I, O, T(1), dy, O, g.x(1), I, fresh ? T(0) : T(1), dx, I);
    }
    // dW [O, I] += dy^T . x, staged for one big GEMM when few rows (Note [deferred weight gradients])
    TensorImpl& W = g.in(1);
    if (g.needs(1) && W.is_leaf && N < detail::kDeferRowsBelow)
      detail::defer_weight_grad(W, dy, g.x(0), N);
    else if (g.needs(1))
      detail::gemm(true, false, O, I, N, T(1), dy, O, g.x(0), I, T(1), W.template grad_acc<T>(), I);
    // db [O] += sum over rows of dy
    if (g.needs(2)) {
      T* db = g.grad_acc(2);
      detail::add_rows_into(db, dy, N, O);
    }
  });
}

// ===== the public ops: each runs its kernel for its tensors' dtype =====

Tensor matmul(const Tensor& a, const Tensor& b) {
  return detail::dispatch("matmul", {&a, &b}, [&](auto t) { return matmul_kernel<decltype(t)>(a, b); });
}

Tensor transpose(const Tensor& x) {
  return detail::dispatch("transpose", {&x}, [&](auto t) { return transpose_kernel<decltype(t)>(x); });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual) {
  return detail::dispatch("linear", {&x, &weight, &bias, &residual}, [&](auto t) { return linear_kernel<decltype(t)>(x, weight, bias, residual); });
}

}  // namespace tg
