#pragma once
// MultiheadAttention with torch.nn.MultiheadAttention's parameters, layout and result
// (time-first, batch_first = False; one projection [3E, E] for q, k and v):
//   in_proj_weight [3E, E], in_proj_bias [3E], out_proj.weight [E, E], out_proj.bias [E].
// Each of the h heads attends with scaled dot products over d = E / h features. A composition of
// ops: matmul, permute, softmax, masked_fill (Note [batched matmul] keeps the heads in batches).
#include <tapegrad/layers/linear.hpp>
#include <tapegrad/layers/module.hpp>

namespace tg {

struct MultiheadAttended {
  Tensor output;   // [L, B, E]
  Tensor weights;  // [B, L, S] averaged over heads (PyTorch's default), or [B, h, L, S] per head
};

class MultiheadAttention : public Module {
 public:
  MultiheadAttention(std::size_t embed_dim, std::size_t num_heads);

  // query [L, B, E], key and value [S, B, E]. The mask is [S, B] with 1 = valid, tapegrad's
  // convention (PyTorch's key_padding_mask is its transpose with True = ignore); a query whose
  // source is all masked gets zero weights and a zero attention output (out_proj's bias remains).
  MultiheadAttended forward(const Tensor& query, const Tensor& key, const Tensor& value,
                            bool average_weights = true) const;
  MultiheadAttended forward(const Tensor& query, const Tensor& key, const Tensor& value, const IdTensor& mask,
                            bool average_weights = true) const;

  MultiheadAttended operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                               bool average_weights = true) const {
    return forward(query, key, value, average_weights);
  }
  MultiheadAttended operator()(const Tensor& query, const Tensor& key, const Tensor& value, const IdTensor& mask,
                               bool average_weights = true) const {
    return forward(query, key, value, mask, average_weights);
  }

  std::size_t embed_dim() const { return out_proj.in_features(); }
  std::size_t num_heads() const { return heads_; }

  Tensor in_proj_weight;  // [3E, E]: rows q, then k, then v
  Tensor in_proj_bias;    // [3E]
  Linear out_proj;        // [E, E]

 private:
  MultiheadAttended run(const Tensor& query, const Tensor& key, const Tensor& value, const IdTensor* mask,
                        bool average_weights) const;
  std::size_t heads_;
};

}  // namespace tg
