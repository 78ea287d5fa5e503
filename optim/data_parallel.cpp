#include <tapegrad/optim/data_parallel.hpp>

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/tensor_impl.hpp>
#include <tapegrad/autograd/detail/thread_pool.hpp>

namespace tg {
namespace {

// "parameter 3 'fc.weight'" (the name when it has one).
std::string parameter_text(std::size_t k, const TensorImpl& p) {
  return "parameter " + std::to_string(k) + (p.name.empty() ? "" : " '" + p.name + "'");
}

std::string describe(std::size_t r, std::size_t k, const TensorImpl& p) {
  return "replica " + std::to_string(r) + ", " + parameter_text(k, p);
}

// A replica's parameter reads the model's value from now on (the memory is the model's).
void bind(TensorImpl& replica, TensorImpl& model) {
  replica.value = Storage::borrowed(model.value.raw(), model.dtype, model.value.size());
}

// g *= s over the whole gradient.
void scale(Storage& g, double s) {
  visit_dtype(g.dtype(), [&](auto t) {
    using T = decltype(t);
    T* p = g.data<T>();
    detail::parallel_range(g.size(), [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) p[i] *= T(s);
    });
  });
}

// dst += src, both of one dtype and size.
void add(Storage& dst, const Storage& src) {
  visit_dtype(dst.dtype(), [&](auto t) {
    using T = decltype(t);
    detail::add_into(dst.data<T>(), src.data<T>(), dst.size());
  });
}

}  // namespace

DataParallel::DataParallel(std::vector<Tensor> params, std::vector<std::vector<Tensor>> replicas)
    : params_(std::move(params)), replicas_(std::move(replicas)) {
  for (std::size_t r = 0; r < replicas_.size(); ++r) {
    if (replicas_[r].size() != params_.size())
      throw std::invalid_argument("DataParallel: replica " + std::to_string(r + 1) + " has " +
                                  std::to_string(replicas_[r].size()) + " parameters, the model " +
                                  std::to_string(params_.size()));
    for (std::size_t k = 0; k < params_.size(); ++k) {
      TensorImpl& p = detail::impl_of(params_[k]);
      TensorImpl& q = detail::impl_of(replicas_[r][k]);
      if (q.shape != p.shape || q.dtype != p.dtype)
        throw std::invalid_argument("DataParallel: " + describe(r + 1, k, q) + " is " + to_string(q.shape) + " " +
                                    dtype_name(q.dtype) + ", the model's " + to_string(p.shape) + " " +
                                    dtype_name(p.dtype));
      if (!q.is_leaf || &q == &p)
        throw std::invalid_argument("DataParallel: " + describe(r + 1, k, q) +
                                    " must be a parameter (a leaf) of its own, not the model's");
    }
  }
  for (auto& replica : replicas_)
    for (std::size_t k = 0; k < params_.size(); ++k) bind(detail::impl_of(replica[k]), detail::impl_of(params_[k]));
}

void DataParallel::check_bound() const {
  for (std::size_t r = 0; r < replicas_.size(); ++r)
    for (std::size_t k = 0; k < params_.size(); ++k) {
      const TensorImpl& p = detail::impl_of(params_[k]);
      const TensorImpl& q = detail::impl_of(replicas_[r][k]);
      if (q.value.raw() != p.value.raw() || q.dtype != p.dtype || q.shape != p.shape)
        throw std::logic_error("DataParallel: the model's " + parameter_text(k, p) +
                               " was converted or replaced since the replicas were bound to it; build a new DataParallel");
    }
}

void DataParallel::run(const std::function<void(std::size_t shard)>& shard) {
  check_bound();
  // Shard 0 adds into the model's own gradients G. Scaled by S first, they end as
  // (S G + g_0 + ... + g_{S-1}) / S = G + the mean: no buffer is set aside, so every gradient
  // buffer stays with the thread that uses it (exact for S a power of two, else within a
  // rounding of G; G is zero after zero_grad()).
  const double count = double(shards());
  for (const Tensor& p : params_)
    if (detail::impl_of(p).has_grad()) scale(detail::impl_of(p).grad, count);
  detail::parallel_for(shards(), [&](std::size_t s) { shard(s); });
  for (std::size_t k = 0; k < params_.size(); ++k) {
    TensorImpl& p = detail::impl_of(params_[k]);
    for (auto& replica : replicas_) {  // shard 1's, then 2's, ...: a fixed order
      TensorImpl& q = detail::impl_of(replica[k]);
      if (!q.has_grad()) continue;  // a shard the gradient did not reach counts as zeros
      if (!p.has_grad()) p.grad = Storage::zeros(p.dtype, q.grad.size());
      add(p.grad, q.grad);
      std::memset(q.grad.raw(), 0, q.grad.bytes());  // kept for the replica's next backward
    }
    if (p.has_grad()) scale(p.grad, 1.0 / count);
  }
}

}  // namespace tg
