#pragma once
// Attention over a time-first source, as plain compositions of ops (no hand-written backward,
// so a variant is a few lines of user code). A query [B, Dq] (one decoder step) attends to
// keys [S, B, Dk] and values [S, B, Dv] under an optional source mask [S, B] with 1 = valid
// (tapegrad's mask convention; PyTorch's key_padding_mask is [B, S] with True = ignore).
//   scaled dot product  softmax(q · k / √D)          (Dq = Dk)
//   Luong "general"     softmax(q W k)               W [Dq, Dk]
//   Bahdanau additive   softmax(vᵀ tanh(W q + U k))  W [A, Dq], U [A, Dk], v [A]
// Masked positions get exactly zero weight. A query whose whole source is masked gets zero
// weights and a zero context, where PyTorch gives NaN.
#include <tapegrad/layers/module.hpp>

namespace tg {

struct Attended {
  Tensor context;  // [B, Dv]: the weighted sum of the values
  Tensor weights;  // [B, S]: each row sums to 1 over its valid positions (0 if it has none)
};

// weights = softmax over s of scores [B, S] (masked as above), context = Σ_s weights v_s.
Attended attend(const Tensor& scores, const Tensor& values);
Attended attend(const Tensor& scores, const Tensor& values, const IdTensor& mask);

Attended scaled_dot_product_attention(const Tensor& query, const Tensor& keys, const Tensor& values);
Attended scaled_dot_product_attention(const Tensor& query, const Tensor& keys, const Tensor& values,
                                      const IdTensor& mask);

class LuongAttention : public Module {
 public:
  LuongAttention(std::size_t query_size, std::size_t key_size);
  Attended forward(const Tensor& query, const Tensor& keys, const Tensor& values) const;
  Attended forward(const Tensor& query, const Tensor& keys, const Tensor& values, const IdTensor& mask) const;
  Attended operator()(const Tensor& query, const Tensor& keys, const Tensor& values) const {
    return forward(query, keys, values);
  }
  Attended operator()(const Tensor& query, const Tensor& keys, const Tensor& values, const IdTensor& mask) const {
    return forward(query, keys, values, mask);
  }
  Tensor scores(const Tensor& query, const Tensor& keys) const;  // [B, S]

  Tensor weight;  // [Dq, Dk]
};

class BahdanauAttention : public Module {
 public:
  BahdanauAttention(std::size_t query_size, std::size_t key_size, std::size_t attention_size);
  Attended forward(const Tensor& query, const Tensor& keys, const Tensor& values) const;
  Attended forward(const Tensor& query, const Tensor& keys, const Tensor& values, const IdTensor& mask) const;
  Attended operator()(const Tensor& query, const Tensor& keys, const Tensor& values) const {
    return forward(query, keys, values);
  }
  Attended operator()(const Tensor& query, const Tensor& keys, const Tensor& values, const IdTensor& mask) const {
    return forward(query, keys, values, mask);
  }
  Tensor scores(const Tensor& query, const Tensor& keys) const;  // [B, S]

  Tensor query_weight;  // W [A, Dq]
  Tensor key_weight;    // U [A, Dk]
  Tensor v;             // [A]
};

}  // namespace tg
