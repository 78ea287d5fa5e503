#include <tapegrad/dist/collectives.hpp>

#include <mpi.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <tapegrad/dist/detail/fused.hpp>
#include <tapegrad/dist/environment.hpp>

namespace tg::dist {
namespace {

// The same count on every rank, or std::invalid_argument (on every rank) naming `what`.
void require_same_count(unsigned long long mine, const std::string& what) {
  unsigned long long lo = mine, hi = mine;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
  if (lo != hi)
    throw std::invalid_argument("tg::dist: the ranks disagree on " + what + " (from " + std::to_string(lo) +
                                " to " + std::to_string(hi) + "): every rank must build the same model");
}

// Where each rank's block goes in a gathered buffer: every rank's element count (an allgather),
// the offsets they start at, and the total.
struct GatherLayout {
  std::vector<int> counts, offsets;
  int total = 0;
};

GatherLayout gather_layout(int mine) {
  GatherLayout at;
  at.counts.resize(std::size_t(world_size()));
  MPI_Allgather(&mine, 1, MPI_INT, at.counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  for (int c : at.counts) {
    at.offsets.push_back(at.total);
    at.total += c;
  }
  return at;
}

// name \0 value \0 name \0 value \0 ...  (values may hold any character but \0)
std::string serialize(const std::map<std::string, std::string>& settings) {
  std::string s;
  for (const auto& [k, v] : settings) (((s += k) += '\0') += v) += '\0';
  return s;
}

std::map<std::string, std::string> deserialize(const std::string& s) {
  std::map<std::string, std::string> m;
  std::size_t at = 0;
  while (at < s.size()) {
    const std::size_t k_end = s.find('\0', at), v_end = s.find('\0', k_end + 1);
    m[s.substr(at, k_end - at)] = s.substr(k_end + 1, v_end - k_end - 1);
    at = v_end + 1;
  }
  return m;
}

}  // namespace

void broadcast_parameters(const std::vector<Tensor>& params, int root) {
  if (!initialized()) return;
  require_same_count(params.size(), "the number of parameter tensors");
  require_same_count(detail::total_numel(params, kFloat32), "the number of float32 parameters");
  require_same_count(detail::total_numel(params, kFloat64), "the number of float64 parameters");
  // Note [one buffer per dtype] in detail/fused.hpp: each [sum of numel(p) of its dtype].
  detail::Fused buffers;
  for (const auto& p : params)
    visit_dtype(p.dtype(), [&](auto v) { detail::append(buffers, p.data<decltype(v)>(), p.numel()); });
  detail::for_each_buffer(buffers, [&](auto& b) {
    detail::in_pieces(b, [&](auto* data, int count, MPI_Datatype type) { MPI_Bcast(data, count, type, root, MPI_COMM_WORLD); });
  });
  detail::FusedReader reader(buffers);
  for (auto p : params)
    visit_dtype(p.dtype(), [&](auto v) {
      using T = decltype(v);
      std::copy_n(reader.next<T>(p.numel()), p.numel(), p.mutable_data<T>());
    });
}

void barrier() {
  if (initialized()) MPI_Barrier(MPI_COMM_WORLD);
}

void allreduce_sum(std::vector<double>& values) {
  if (!initialized()) return;
  MPI_Allreduce(MPI_IN_PLACE, values.data(), int(values.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

double broadcast(double value, int root) {
  if (initialized()) MPI_Bcast(&value, 1, MPI_DOUBLE, root, MPI_COMM_WORLD);
  return value;
}

std::vector<std::string> allgather(const std::string& value) {
  if (!initialized()) return {value};
  const int mine = int(value.size());
  const GatherLayout at = gather_layout(mine);
  std::string all(std::size_t(at.total), '\0');
  MPI_Allgatherv(value.data(), mine, MPI_CHAR, all.data(), at.counts.data(), at.offsets.data(), MPI_CHAR,
                 MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (std::size_t r = 0; r < at.counts.size(); ++r)
    out.push_back(all.substr(std::size_t(at.offsets[r]), std::size_t(at.counts[r])));
  return out;
}

Tensor gather_rows(const Tensor& local, int root) {
  if (local.dim() == 0) throw std::invalid_argument("tg::dist::gather_rows: a scalar has no rows");
  const std::size_t row = local.numel() / std::max<std::size_t>(1, local.shape()[0]);  // elements per row
  if (!initialized())  // a copy, as the root gets with several ranks
    return visit_dtype(local.dtype(), [&](auto v) { return Tensor::constant(xt::xarray<decltype(v)>(local.value<decltype(v)>())); });
  require_same_count(row, "gather_rows' row size");
  require_same_count(dtype_size(local.dtype()), "gather_rows' bytes per element (float32 or float64)");
  const int mine = int(local.numel());
  const GatherLayout at = gather_layout(mine);
  Shape shape = local.shape();
  shape[0] = std::size_t(at.total) / std::max<std::size_t>(1, row);  // [sum N_r, ...]
  const bool me = rank() == root;
  return visit_dtype(local.dtype(), [&](auto v) {
    using T = decltype(v);
    std::vector<T> all(me ? std::size_t(at.total) : 0);
    MPI_Gatherv(local.data<T>(), mine, detail::mpi_type<T>(), all.data(), at.counts.data(), at.offsets.data(),
                detail::mpi_type<T>(), root, MPI_COMM_WORLD);
    if (!me) return Tensor::zeros({0}, local.dtype());
    return Tensor::constant(xt::xarray<T>(xt::adapt(all, shape)));
  });
}

void check_same_settings(const std::map<std::string, std::string>& settings) {
  const std::vector<std::string> all = allgather(serialize(settings));
  for (std::size_t r = 1; r < all.size(); ++r) {
    if (all[r] == all[0]) continue;
    const auto root = deserialize(all[0]), other = deserialize(all[r]);
    const std::string at = " on rank " + std::to_string(r);
    for (const auto& [k, v] : root) {
      const auto it = other.find(k);
      if (it == other.end())
        throw std::invalid_argument("configuration differs across ranks: " + k + " is set on rank 0 but not" + at);
      if (it->second != v)
        throw std::invalid_argument("configuration differs across ranks: " + k + " is '" + v + "' on rank 0 but '" +
                                    it->second + "'" + at);
    }
    for (const auto& [k, v] : other)
      if (!root.count(k))
        throw std::invalid_argument("configuration differs across ranks: " + k + " is set" + at + " but not on rank 0");
  }
}

}  // namespace tg::dist
