#pragma once
// Embedding: a [V, E] table of rows looked up by integer ids; PyTorch's init N(0, 1).
#include <tapegrad/layers/module.hpp>

namespace tg {

class Embedding : public Module {
 public:
  Embedding(std::size_t num_embeddings, std::size_t embedding_dim);
  Tensor forward(const IdTensor& ids) const;  // ids [S...] -> [S..., E]
  Tensor operator()(const IdTensor& ids) const { return forward(ids); }

  Tensor weight;  // [V, E]
};

}  // namespace tg
