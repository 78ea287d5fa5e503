#pragma once
// The op API. Every op takes and returns Tensors, computes in their dtype (float32 or float64;
// two dtypes in one op is std::invalid_argument, Note [dtypes] in tensor.hpp), records itself
// on the calling thread's tape when an input requires grad, and checks its arguments when it
// is called: a shape mismatch is std::invalid_argument naming the op and every input shape, an
// id or index out of range std::out_of_range.
#include <utility>
#include <vector>

#include <tapegrad/autograd/tensor.hpp>

namespace tg {

// ---- elementwise binary, numpy broadcasting (ops_elementwise.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);

// ---- elementwise unary and scalar (ops_elementwise.cpp) ----
Tensor neg(const Tensor& x);
Tensor add_scalar(const Tensor& x, double s);    // x + s
Tensor mul_scalar(const Tensor& x, double s);    // x * s
Tensor rsub_scalar(const Tensor& x, double s);   // s - x
Tensor rdiv_scalar(const Tensor& x, double s);   // s / x
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor square(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
// Elementwise min(max(x, low), high); the gradient passes where low <= x <= high.
Tensor clamp(const Tensor& x, double low, double high);

// ---- more elementwise math (ops_math.cpp) and activations (ops_activation.cpp) ----
// Kinks take PyTorch's subgradients: abs'(0) = 0, relu'(0) = 0, leaky_relu'(0) = slope,
// elu'(0) = alpha; maximum/minimum split dy evenly between equal inputs.
Tensor abs(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor log1p(const Tensor& x);  // log(1 + x), accurate near 0
Tensor maximum(const Tensor& a, const Tensor& b);  // numpy broadcasting; NaN propagates
Tensor minimum(const Tensor& a, const Tensor& b);
// log(1 + e^(beta x)) / beta, and x where beta x > threshold (torch.nn.functional.softplus).
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
// x Φ(x) with the exact erf, or PyTorch's approximate='tanh' form.
enum class GeluApproximation { none, tanh };
Tensor gelu(const Tensor& x, GeluApproximation approximate = GeluApproximation::none);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor elu(const Tensor& x, double alpha = 1.0);  // x, or alpha (e^x - 1) where x <= 0

// ---- reductions (ops_reduce.cpp); axis may be negative (-1 = last) ----
// Over no elements (an empty tensor, or an axis of size 0) PyTorch's values: sum 0, mean NaN.
Tensor sum(const Tensor& x);   // all elements -> shape []
Tensor mean(const Tensor& x);
Tensor sum(const Tensor& x, long axis, bool keepdims = false);
Tensor mean(const Tensor& x, long axis, bool keepdims = false);
// log sum exp along axis, shifted by the row's max so it cannot overflow; over no elements -inf.
Tensor logsumexp(const Tensor& x, long axis, bool keepdims = false);
// Running sums along axis (same shape as x).
Tensor cumsum(const Tensor& x, long axis);

// ---- selecting reductions (ops_extrema.cpp), as torch.max(x, dim) and friends ----
// The largest (smallest) element along axis and its index: the first among ties, a NaN counting
// as the extremum; the gradient goes to that element only. An axis of size 0 has no extremum
// (std::invalid_argument); a 0-D x has axis 0 (or -1).
std::pair<Tensor, IdTensor> max(const Tensor& x, long axis, bool keepdims = false);
std::pair<Tensor, IdTensor> min(const Tensor& x, long axis, bool keepdims = false);
// The extremum alone, as torch.amax/amin: the gradient is split evenly among tied elements.
Tensor amax(const Tensor& x, long axis, bool keepdims = false);
Tensor amin(const Tensor& x, long axis, bool keepdims = false);
// The index of the extremum (the first among ties), along axis or over the flattened x (shape []).
IdTensor argmax(const Tensor& x, long axis, bool keepdims = false);
IdTensor argmin(const Tensor& x, long axis, bool keepdims = false);
IdTensor argmax(const Tensor& x);
IdTensor argmin(const Tensor& x);

// ---- linear algebra (ops_linalg.cpp), BLAS ----
// [..., M, K] x [..., K, N] -> [..., M, N], the batch dimensions broadcast (numpy's rule, as
// torch.matmul); a 1-D a is a row [K] and a 1-D b a column [K], whose dimension the result drops.
// [B, T, K] x [K, N] is one GEMM; a broadcast operand is never copied (Note [batched matmul]).
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor transpose(const Tensor& x);  // 2-D: [R, C] -> [C, R]
// x [N, I], weight [O, I] (PyTorch's layout), bias [O] or undefined -> x weight^T + bias [N, O].
// With `residual` [N, O]: residual + x weight^T + bias, in one GEMM (beta = 1) instead of a
// linear and an add (a recurrent cell's input projection plus its hidden projection).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, const Tensor& residual = {});

// ---- shape (ops_shape.cpp) ----
// Same elements in a new shape: a view of x's memory, no copy (Note [views] in tensor.hpp).
// Empty tensors reshape to any empty shape ([0, 3] -> [3, 0, 5]), as in PyTorch.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor concat(const std::vector<Tensor>& xs, long axis);
// Elements [start, start + length) along axis (PyTorch's narrow); a view when they are
// contiguous (axis 0, or every axis before it of size 1), else a copy.
Tensor slice(const Tensor& x, long axis, std::size_t start, std::size_t length);
// Pieces of the given sizes along axis; they must add up to the axis' size.
std::vector<Tensor> split(const Tensor& x, const std::vector<std::size_t>& sizes, long axis);
// n equal pieces along axis (the axis' size must be divisible by n): LSTM gate slicing.
// An axis of size 0 gives n empty pieces, as in PyTorch.
std::vector<Tensor> chunk(const Tensor& x, std::size_t n, long axis);

// x with a new axis of size 1 at `axis` (in [-(dim+1), dim]), or without its size-1 axes (all
// of them, or `axis` if its size is 1; another size leaves x as it is, as in PyTorch), or with
// axes start..end merged into one (a scalar flattens to [1]). All views of x.
Tensor unsqueeze(const Tensor& x, long axis);
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, long axis);
Tensor flatten(const Tensor& x, long start_axis = 0, long end_axis = -1);
// Tensors of one shape joined along a new axis at `axis` (in [-(dim+1), dim]).
Tensor stack(const std::vector<Tensor>& xs, long axis = 0);

// ---- layout (ops_layout.cpp): copies, since tensors have no strides ----
// Axis d of the result is axis dims[d] of x (dims a permutation of 0..dim-1).
Tensor permute(const Tensor& x, const std::vector<std::size_t>& dims);
// x with axes a and b swapped (negative axes count from the end).
Tensor transpose(const Tensor& x, long axis_a, long axis_b);
// x repeated along its size-1 axes, and new leading ones, to `shape` (numpy's broadcast_to).
Tensor expand(const Tensor& x, const Shape& shape);
inline Tensor broadcast_to(const Tensor& x, const Shape& shape) { return expand(x, shape); }

// ---- indexing and comparisons (ops_index.cpp); indices and masks are tg::IdTensor ----
// 1 where the comparison holds, else 0, with numpy broadcasting (or against a scalar). Masks
// carry no gradient and are not recorded.
IdTensor eq(const Tensor& a, const Tensor& b);
IdTensor ne(const Tensor& a, const Tensor& b);
IdTensor lt(const Tensor& a, const Tensor& b);
IdTensor le(const Tensor& a, const Tensor& b);
IdTensor gt(const Tensor& a, const Tensor& b);
IdTensor ge(const Tensor& a, const Tensor& b);
IdTensor eq(const Tensor& a, double b);
IdTensor ne(const Tensor& a, double b);
IdTensor lt(const Tensor& a, double b);
IdTensor le(const Tensor& a, double b);
IdTensor gt(const Tensor& a, double b);
IdTensor ge(const Tensor& a, double b);
// cond ? a : b per element, the three broadcast together. a's gradient is dy where cond is
// nonzero, b's elsewhere; the branch not taken is never read, so an inf or NaN there stays out.
Tensor where(const IdTensor& cond, const Tensor& a, const Tensor& b);
// x with `value` where mask (broadcast to x's shape) is nonzero; no gradient flows there.
Tensor masked_fill(const Tensor& x, const IdTensor& mask, double value);
// torch.gather: out has index's shape, out[..., i, ...] = x[..., index[..., i, ...], ...] along
// axis; index has x's rank and no larger size than x on the other axes. Its gradient
// scatter-adds into x (repeated indices accumulate). take_along_axis is numpy's name.
Tensor gather(const Tensor& x, long axis, const IdTensor& index);
inline Tensor take_along_axis(const Tensor& x, const IdTensor& index, long axis) { return gather(x, axis, index); }
// The slices index[0], index[1], ... of x along axis (index 1-D, repeats allowed): x's shape
// with index.size() on that axis. Its gradient scatter-adds.
Tensor index_select(const Tensor& x, long axis, const IdTensor& index);

// ---- neural-network ops (ops_nn.cpp) ----
// An empty x gives an empty result ([3, 0] and [0, 5] alike), as in PyTorch.
Tensor softmax(const Tensor& x, long axis = -1);
Tensor log_softmax(const Tensor& x, long axis = -1);
// weight [V, E], ids of any shape S with values in [0, V) -> [S..., E]. The gradient
// scatter-adds rows, so repeated ids accumulate.
Tensor embedding(const Tensor& weight, const IdTensor& ids);
// Mean over N of -log softmax(logits)[target]; logits [..., C], targets [...] (ids in [0, C)).
// No rows (N = 0) or no classes is std::invalid_argument: PyTorch returns NaN for the mean
// over no rows, which would poison training silently (so does a mask that selects nothing).
Tensor cross_entropy(const Tensor& logits, const IdTensor& targets);
// The same over the rows where mask (0/1, the targets' shape) is 1: padded steps of a
// variable-length batch are left out of the loss and get no gradient.
Tensor cross_entropy(const Tensor& logits, const IdTensor& targets, const IdTensor& mask);
// Mean squared error over all elements; shapes must match. Empty tensors are
// std::invalid_argument, like cross_entropy over no rows (PyTorch: NaN).
Tensor mse(const Tensor& prediction, const Tensor& target);
// Train: zero each element with probability p (library RNG), scale survivors by 1/(1-p).
// Eval (train = false) or p = 0: x itself.
Tensor dropout(const Tensor& x, double p, bool train);

// ---- normalisation (ops_norm.cpp) ----
// Normalises each row over the last axis N: (x - mean) / sqrt(var + eps) * gamma + beta, with
// gamma, beta [N] (either may be undefined: no scale / no shift). Empty x (no rows, or N = 0)
// gives an empty result, as in PyTorch.
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps = 1e-5);

// ---- dtype (ops_shape.cpp) ----
// x converted to `dtype` (x itself when it already is); the gradient converts back. Also
// x.to(dtype).
Tensor to_dtype(const Tensor& x, Dtype dtype);

// ---- operators ----
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& x, double s) { return add_scalar(x, s); }
inline Tensor operator+(double s, const Tensor& x) { return add_scalar(x, s); }
inline Tensor operator-(const Tensor& x, double s) { return add_scalar(x, -s); }
inline Tensor operator-(double s, const Tensor& x) { return rsub_scalar(x, s); }
inline Tensor operator*(const Tensor& x, double s) { return mul_scalar(x, s); }
inline Tensor operator*(double s, const Tensor& x) { return mul_scalar(x, s); }
inline Tensor operator/(const Tensor& x, double s) { return mul_scalar(x, 1.0 / s); }
inline Tensor operator/(double s, const Tensor& x) { return rdiv_scalar(x, s); }

}  // namespace tg
