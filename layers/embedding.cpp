#include <tapegrad/layers/embedding.hpp>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>

namespace tg {

Embedding::Embedding(std::size_t num, std::size_t dim) {
  if (num == 0 || dim == 0)
    throw std::invalid_argument("Embedding: sizes must be positive, got num_embeddings " +
                                std::to_string(num) + ", embedding_dim " + std::to_string(dim));
  weight = register_parameter("weight", Tensor::param(randn<float>({num, dim})));
}

Tensor Embedding::forward(const IdTensor& ids) const {
  return embedding(weight, ids);
}

}  // namespace tg
