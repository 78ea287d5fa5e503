#include <tapegrad/layers/multihead_attention.hpp>

#include <cmath>
#include <string>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>

namespace tg {

MultiheadAttention::MultiheadAttention(std::size_t embed_dim, std::size_t num_heads)
    : out_proj(std::max<std::size_t>(embed_dim, 1), std::max<std::size_t>(embed_dim, 1)), heads_(num_heads) {
  if (embed_dim == 0 || num_heads == 0 || embed_dim % num_heads != 0)
    throw std::invalid_argument("MultiheadAttention: embed_dim " + std::to_string(embed_dim) +
                                " must be a positive multiple of num_heads " + std::to_string(num_heads));
  // PyTorch's init: Xavier-uniform projection, zero biases (out_proj's too).
  const float a = std::sqrt(6.0f / float(embed_dim + 3 * embed_dim));
  in_proj_weight = register_parameter("in_proj_weight", Tensor::param(uniform<float>({3 * embed_dim, embed_dim}, -a, a)));
  in_proj_bias = register_parameter("in_proj_bias", Tensor::zeros({3 * embed_dim}, kFloat32, true));
  std::fill_n(out_proj.bias.mutable_data<float>(), embed_dim, 0.0f);
  register_module("out_proj", out_proj);
}

MultiheadAttended MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                              bool average_weights) const {
  return run(query, key, value, nullptr, average_weights);
}

MultiheadAttended MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                              const IdTensor& mask, bool average_weights) const {
  return run(query, key, value, &mask, average_weights);
}

MultiheadAttended MultiheadAttention::run(const Tensor& query, const Tensor& key, const Tensor& value,
                                          const IdTensor* mask, bool average_weights) const {
  const std::size_t E = embed_dim(), h = heads_, d = E / h;
  const bool ok = query.dim() == 3 && key.dim() == 3 && value.dim() == 3 && query.shape()[2] == E &&
                  key.shape()[2] == E && value.shape()[2] == E && key.shape()[1] == query.shape()[1] &&
                  value.shape()[0] == key.shape()[0] && value.shape()[1] == key.shape()[1];
  if (!ok)
    throw std::invalid_argument("MultiheadAttention: query must be [L, B, E] and key, value [S, B, E] with E = " +
                                std::to_string(E) + ", got " + to_string(query.shape()) + ", " + to_string(key.shape()) +
                                ", " + to_string(value.shape()));
  const std::size_t L = query.shape()[0], B = query.shape()[1], S = key.shape()[0];
  if (mask && mask->shape() != Shape{S, B})
    throw std::invalid_argument("MultiheadAttention: the mask must be [S, B] = " + to_string(Shape{S, B}) + ", got " +
                                to_string(mask->shape()));
  // x [N, B, E] projected by rows [part E, part E + E) of the joint weight, split into heads:
  // [N*B, E] -> [N, B, h, d] -> [B, h, N, d]
  const auto project = [&](const Tensor& x, std::size_t part) {
    const std::size_t N = x.shape()[0];
    const Tensor y = linear(reshape(x, {N * B, E}), slice(in_proj_weight, 0, part * E, E), slice(in_proj_bias, 0, part * E, E));
    return permute(reshape(y, {N, B, h, d}), {1, 2, 0, 3});
  };
  const Tensor q = project(query, 0) * (1.0 / std::sqrt(double(d)));  // [B, h, L, d], scaled as PyTorch does
  const Tensor k = project(key, 1), v = project(value, 2);              // [B, h, S, d]
  Tensor scores = matmul(q, transpose(k, -1, -2));                      // [B, h, L, S]
  Tensor weights;
  if (mask) {
    xt::xarray<std::int64_t> invalid = xt::xarray<std::int64_t>::from_shape({B, 1, 1, S});  // broadcasts over h, L
    xt::xarray<double> valid = xt::xarray<double>::from_shape({B, 1, 1, S});
    for (std::size_t s = 0; s < S; ++s)
      for (std::size_t b = 0; b < B; ++b) {
        const bool keep = mask->data()[s * B + b] != 0;
        invalid(b, 0, 0, s) = keep ? 0 : 1;
        valid(b, 0, 0, s) = keep ? 1.0 : 0.0;
      }
    // Exactly zero where masked; an all-masked row softmaxes to uniform and is zeroed by `valid`.
    weights = softmax(masked_fill(scores, IdTensor(invalid), -1e30), -1) * Tensor::constant(valid).to(scores.dtype());
  } else {
    weights = softmax(scores, -1);
  }
  const Tensor context = matmul(weights, v);                                 // [B, h, L, d]
  const Tensor joined = reshape(permute(context, {2, 0, 1, 3}), {L * B, E});  // [L, B, h, d] -> [L*B, E]
  MultiheadAttended out;
  out.output = reshape(out_proj(joined), {L, B, E});
  out.weights = average_weights ? mean(weights, 1) : weights;  // [B, L, S] or [B, h, L, S]
  return out;
}

}  // namespace tg
