#include <tapegrad/layers/embedding.hpp>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>

namespace tg {

template <class T>
EmbeddingT<T>::EmbeddingT(std::size_t num, std::size_t dim) {
  if (num == 0 || dim == 0)
    throw std::invalid_argument("Embedding: sizes must be positive, got num_embeddings " +
                                std::to_string(num) + ", embedding_dim " + std::to_string(dim));
  weight = this->register_parameter("weight", Tensor::param(randn<T>({num, dim})));
}

template <class T>
Tensor EmbeddingT<T>::forward(const IdTensor& ids) const {
  return embedding(weight, ids);
}

template class EmbeddingT<float>;
template class EmbeddingT<double>;

}  // namespace tg
