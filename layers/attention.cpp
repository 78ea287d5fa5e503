#include <tapegrad/layers/attention.hpp>

#include <cmath>
#include <string>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>

namespace tg {
namespace {

// query [B, Dq], keys [S, B, Dk] (Dk = key_size, or any when 0), values [S, B, Dv] (or undefined).
void check_shapes(const char* who, const Tensor& query, const Tensor& keys, const Tensor& values,
                  std::size_t query_size, std::size_t key_size) {
  const auto fail = [&](const std::string& what) {
    throw std::invalid_argument(std::string(who) + ": " + what + " (query " + to_string(query.shape()) + ", keys " +
                                to_string(keys.shape()) + (values.defined() ? ", values " + to_string(values.shape()) : "") + ")");
  };
  if (query.dim() != 2) fail("the query must be [B, Dq]");
  if (keys.dim() != 3 || keys.shape()[1] != query.shape()[0]) fail("the keys must be [S, B, Dk] with the query's B");
  if (query_size && query.shape()[1] != query_size) fail("the query's last size must be " + std::to_string(query_size));
  if (key_size && keys.shape()[2] != key_size) fail("the keys' last size must be " + std::to_string(key_size));
  if (values.defined() && (values.dim() != 3 || values.shape()[0] != keys.shape()[0] || values.shape()[1] != keys.shape()[1]))
    fail("the values must be [S, B, Dv] with the keys' S and B");
}

// scores [B, S] with masked places (mask [S, B] == 0) at exactly zero weight, and rows with no
// valid place all zero: softmax over a very negative fill, then times the 0/1 mask.
Tensor masked_weights(const Tensor& scores, const IdTensor* mask) {
  if (!mask) return softmax(scores, -1);
  const std::size_t B = scores.shape()[0], S = scores.shape()[1];
  if (mask->shape() != Shape{S, B})
    throw std::invalid_argument("attention: the mask must be [S, B] = " + to_string(Shape{S, B}) + ", got " +
                                to_string(mask->shape()));
  xt::xarray<std::int64_t> invalid = xt::xarray<std::int64_t>::from_shape({B, S});  // [B, S]: 1 = masked
  xt::xarray<double> valid = xt::xarray<double>::from_shape({B, S});
  for (std::size_t s = 0; s < S; ++s)
    for (std::size_t b = 0; b < B; ++b) {
      const bool ok = mask->data()[s * B + b] != 0;
      invalid(b, s) = ok ? 0 : 1;
      valid(b, s) = ok ? 1.0 : 0.0;
    }
  // e^(-1e30 - max) is exactly 0 in float and double; an all-masked row softmaxes to uniform,
  // which the mask then zeroes.
  const Tensor w = softmax(masked_fill(scores, IdTensor(invalid), -1e30), -1);
  return w * Tensor::constant(valid).to(scores.dtype());
}

Attended attend_masked(const Tensor& scores, const Tensor& values, const IdTensor* mask) {
  if (scores.dim() != 2 || values.dim() != 3 || values.shape()[0] != scores.shape()[1] ||
      values.shape()[1] != scores.shape()[0])
    throw std::invalid_argument("attention: scores must be [B, S] for values [S, B, Dv], got " +
                                to_string(scores.shape()) + " and " + to_string(values.shape()));
  Attended a;
  a.weights = masked_weights(scores, mask);  // [B, S]
  // context [B, Dv] = [B, 1, S] x [B, S, Dv]
  a.context = squeeze(matmul(unsqueeze(a.weights, 1), permute(values, {1, 0, 2})), 1);
  return a;
}

// q [B, D] · k [S, B, D] for every s: [B, S, D] x [B, D, 1] -> [B, S]
Tensor dot_scores(const Tensor& query, const Tensor& keys) {
  return squeeze(matmul(permute(keys, {1, 0, 2}), unsqueeze(query, -1)), -1);
}

Attended scaled_dot(const Tensor& query, const Tensor& keys, const Tensor& values, const IdTensor* mask) {
  check_shapes("scaled_dot_product_attention", query, keys, values, 0, query.dim() == 2 ? query.shape()[1] : 0);
  const double scale = 1.0 / std::sqrt(double(std::max<std::size_t>(1, query.shape()[1])));
  return attend_masked(dot_scores(query, keys) * scale, values, mask);
}

}  // namespace

Attended attend(const Tensor& scores, const Tensor& values) { return attend_masked(scores, values, nullptr); }
Attended attend(const Tensor& scores, const Tensor& values, const IdTensor& mask) {
  return attend_masked(scores, values, &mask);
}

Attended scaled_dot_product_attention(const Tensor& query, const Tensor& keys, const Tensor& values) {
  return scaled_dot(query, keys, values, nullptr);
}
Attended scaled_dot_product_attention(const Tensor& query, const Tensor& keys, const Tensor& values,
                                      const IdTensor& mask) {
  return scaled_dot(query, keys, values, &mask);
}

// ---- Luong "general" ----

LuongAttention::LuongAttention(std::size_t query_size, std::size_t key_size) {
  if (query_size == 0 || key_size == 0)
    throw std::invalid_argument("LuongAttention: sizes must be positive, got " + std::to_string(query_size) + " and " +
                                std::to_string(key_size));
  const float k = 1.0f / std::sqrt(float(key_size));
  weight = register_parameter("weight", Tensor::param(uniform<float>({query_size, key_size}, -k, k)));
}

Tensor LuongAttention::scores(const Tensor& query, const Tensor& keys) const {
  check_shapes("LuongAttention", query, keys, Tensor(), weight.shape()[0], weight.shape()[1]);
  return dot_scores(matmul(query, weight), keys);  // (q W) [B, Dk] · k
}

Attended LuongAttention::forward(const Tensor& query, const Tensor& keys, const Tensor& values) const {
  return attend(scores(query, keys), values);
}
Attended LuongAttention::forward(const Tensor& query, const Tensor& keys, const Tensor& values,
                                 const IdTensor& mask) const {
  return attend(scores(query, keys), values, mask);
}

// ---- Bahdanau additive ----

BahdanauAttention::BahdanauAttention(std::size_t query_size, std::size_t key_size, std::size_t attention_size) {
  if (query_size == 0 || key_size == 0 || attention_size == 0)
    throw std::invalid_argument("BahdanauAttention: sizes must be positive, got " + std::to_string(query_size) + ", " +
                                std::to_string(key_size) + " and " + std::to_string(attention_size));
  const float kq = 1.0f / std::sqrt(float(query_size)), kk = 1.0f / std::sqrt(float(key_size));
  const float ka = 1.0f / std::sqrt(float(attention_size));
  query_weight = register_parameter("query_weight", Tensor::param(uniform<float>({attention_size, query_size}, -kq, kq)));
  key_weight = register_parameter("key_weight", Tensor::param(uniform<float>({attention_size, key_size}, -kk, kk)));
  v = register_parameter("v", Tensor::param(uniform<float>({attention_size}, -ka, ka)));
}

Tensor BahdanauAttention::scores(const Tensor& query, const Tensor& keys) const {
  check_shapes("BahdanauAttention", query, keys, Tensor(), query_weight.shape()[1], key_weight.shape()[1]);
  const Tensor wq = unsqueeze(linear(query, query_weight), 1);             // [B, 1, A]
  const Tensor uk = matmul(permute(keys, {1, 0, 2}), transpose(key_weight));  // [B, S, Dk] x [Dk, A] = [B, S, A]
  return matmul(tanh(uk + wq), v);                                          // [B, S, A] x [A] = [B, S]
}

Attended BahdanauAttention::forward(const Tensor& query, const Tensor& keys, const Tensor& values) const {
  return attend(scores(query, keys), values);
}
Attended BahdanauAttention::forward(const Tensor& query, const Tensor& keys, const Tensor& values,
                                    const IdTensor& mask) const {
  return attend(scores(query, keys), values, mask);
}

}  // namespace tg
