#pragma once
// The op API. Every op takes and returns TensorT<T> (T = float or double), records itself on
// the calling thread's tape when an input requires grad, and checks its arguments when it is
// called: a shape mismatch is std::invalid_argument naming the op and every input shape, an
// id or index out of range std::out_of_range.
#include <vector>

#include <tapegrad/autograd/tensor.hpp>

namespace tg {

// ---- elementwise binary, numpy broadcasting (ops_elementwise.cpp) ----
template <class T> TensorT<T> add(const TensorT<T>& a, const TensorT<T>& b);
template <class T> TensorT<T> sub(const TensorT<T>& a, const TensorT<T>& b);
template <class T> TensorT<T> mul(const TensorT<T>& a, const TensorT<T>& b);
template <class T> TensorT<T> div(const TensorT<T>& a, const TensorT<T>& b);

// ---- elementwise unary and scalar (ops_elementwise.cpp) ----
template <class T> TensorT<T> neg(const TensorT<T>& x);
template <class T> TensorT<T> add_scalar(const TensorT<T>& x, T s);    // x + s
template <class T> TensorT<T> mul_scalar(const TensorT<T>& x, T s);    // x * s
template <class T> TensorT<T> rsub_scalar(const TensorT<T>& x, T s);   // s - x
template <class T> TensorT<T> rdiv_scalar(const TensorT<T>& x, T s);   // s / x
template <class T> TensorT<T> tanh(const TensorT<T>& x);
template <class T> TensorT<T> sigmoid(const TensorT<T>& x);
template <class T> TensorT<T> relu(const TensorT<T>& x);
template <class T> TensorT<T> exp(const TensorT<T>& x);
template <class T> TensorT<T> log(const TensorT<T>& x);
template <class T> TensorT<T> sqrt(const TensorT<T>& x);
template <class T> TensorT<T> square(const TensorT<T>& x);
template <class T> TensorT<T> pow(const TensorT<T>& x, T exponent);
// Elementwise min(max(x, low), high); the gradient passes where low <= x <= high.
template <class T> TensorT<T> clamp(const TensorT<T>& x, T low, T high);

// ---- reductions (ops_reduce.cpp); axis may be negative (-1 = last) ----
// Over no elements (an empty tensor, or an axis of size 0) PyTorch's values: sum 0, mean NaN.
template <class T> TensorT<T> sum(const TensorT<T>& x);   // all elements -> shape []
template <class T> TensorT<T> mean(const TensorT<T>& x);
template <class T> TensorT<T> sum(const TensorT<T>& x, long axis, bool keepdims = false);
template <class T> TensorT<T> mean(const TensorT<T>& x, long axis, bool keepdims = false);

// ---- linear algebra (ops_linalg.cpp), BLAS ----
template <class T> TensorT<T> matmul(const TensorT<T>& a, const TensorT<T>& b);  // [M,K]x[K,N]
template <class T> TensorT<T> transpose(const TensorT<T>& x);                    // 2-D
// x [N, I], weight [O, I] (PyTorch's layout), bias [O] or undefined -> x weight^T + bias [N, O].
// With `residual` [N, O]: residual + x weight^T + bias, in one GEMM (beta = 1) instead of a
// linear and an add (a recurrent cell's input projection plus its hidden projection).
template <class T>
TensorT<T> linear(const TensorT<T>& x, const TensorT<T>& weight, const TensorT<T>& bias = {},
                  const TensorT<T>& residual = {});

// ---- shape (ops_shape.cpp) ----
// Same elements in a new shape: a view of x's memory, no copy (Note [views] in tensor.hpp).
// Empty tensors reshape to any empty shape ([0, 3] -> [3, 0, 5]), as in PyTorch.
template <class T> TensorT<T> reshape(const TensorT<T>& x, const Shape& shape);
template <class T> TensorT<T> concat(const std::vector<TensorT<T>>& xs, long axis);
// Elements [start, start + length) along axis (PyTorch's narrow); a view when they are
// contiguous (axis 0, or every axis before it of size 1), else a copy.
template <class T> TensorT<T> slice(const TensorT<T>& x, long axis, std::size_t start, std::size_t length);
// Pieces of the given sizes along axis; they must add up to the axis' size.
template <class T>
std::vector<TensorT<T>> split(const TensorT<T>& x, const std::vector<std::size_t>& sizes, long axis);
// n equal pieces along axis (the axis' size must be divisible by n): LSTM gate slicing.
// An axis of size 0 gives n empty pieces, as in PyTorch.
template <class T> std::vector<TensorT<T>> chunk(const TensorT<T>& x, std::size_t n, long axis);

// ---- neural-network ops (ops_nn.cpp) ----
// An empty x gives an empty result ([3, 0] and [0, 5] alike), as in PyTorch.
template <class T> TensorT<T> softmax(const TensorT<T>& x, long axis = -1);
template <class T> TensorT<T> log_softmax(const TensorT<T>& x, long axis = -1);
// weight [V, E], ids of any shape S with values in [0, V) -> [S..., E]. The gradient
// scatter-adds rows, so repeated ids accumulate.
template <class T> TensorT<T> embedding(const TensorT<T>& weight, const IdTensor& ids);
// Mean over N of -log softmax(logits)[target]; logits [..., C], targets [...] (ids in [0, C)).
// No rows (N = 0) or no classes is std::invalid_argument: PyTorch returns NaN for the mean
// over no rows, which would poison training silently (so does a mask that selects nothing).
template <class T> TensorT<T> cross_entropy(const TensorT<T>& logits, const IdTensor& targets);
// The same over the rows where mask (0/1, the targets' shape) is 1: padded steps of a
// variable-length batch are left out of the loss and get no gradient.
template <class T>
TensorT<T> cross_entropy(const TensorT<T>& logits, const IdTensor& targets, const IdTensor& mask);
// Mean squared error over all elements; shapes must match. Empty tensors are
// std::invalid_argument, like cross_entropy over no rows (PyTorch: NaN).
template <class T> TensorT<T> mse(const TensorT<T>& prediction, const TensorT<T>& target);
// Train: zero each element with probability p (library RNG), scale survivors by 1/(1-p).
// Eval (train = false) or p = 0: x itself.
template <class T> TensorT<T> dropout(const TensorT<T>& x, double p, bool train);

// ---- normalisation (ops_norm.cpp) ----
// Normalises each row over the last axis N: (x - mean) / sqrt(var + eps) * gamma + beta, with
// gamma, beta [N] (either may be undefined: no scale / no shift). Empty x (no rows, or N = 0)
// gives an empty result, as in PyTorch.
template <class T>
TensorT<T> layer_norm(const TensorT<T>& x, const TensorT<T>& gamma, const TensorT<T>& beta, double eps = 1e-5);

// ---- operators ----
template <class T> TensorT<T> operator+(const TensorT<T>& a, const TensorT<T>& b) { return add(a, b); }
template <class T> TensorT<T> operator-(const TensorT<T>& a, const TensorT<T>& b) { return sub(a, b); }
template <class T> TensorT<T> operator*(const TensorT<T>& a, const TensorT<T>& b) { return mul(a, b); }
template <class T> TensorT<T> operator/(const TensorT<T>& a, const TensorT<T>& b) { return div(a, b); }
template <class T> TensorT<T> operator-(const TensorT<T>& x) { return neg(x); }
template <class T> TensorT<T> operator+(const TensorT<T>& x, T s) { return add_scalar(x, s); }
template <class T> TensorT<T> operator+(T s, const TensorT<T>& x) { return add_scalar(x, s); }
template <class T> TensorT<T> operator-(const TensorT<T>& x, T s) { return add_scalar(x, -s); }
template <class T> TensorT<T> operator-(T s, const TensorT<T>& x) { return rsub_scalar(x, s); }
template <class T> TensorT<T> operator*(const TensorT<T>& x, T s) { return mul_scalar(x, s); }
template <class T> TensorT<T> operator*(T s, const TensorT<T>& x) { return mul_scalar(x, s); }
template <class T> TensorT<T> operator/(const TensorT<T>& x, T s) { return mul_scalar(x, T(1) / s); }
template <class T> TensorT<T> operator/(T s, const TensorT<T>& x) { return rdiv_scalar(x, s); }

}  // namespace tg
