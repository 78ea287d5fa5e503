#include <tapegrad/autograd/random.hpp>

#include <cmath>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>

#include <tapegrad/autograd/detail/buffer.hpp>
#include <tapegrad/autograd/detail/rng_snapshot.hpp>

namespace tg {
namespace {

struct Generator {
  std::mutex mutex;
  std::mt19937_64 engine{0};
};

Generator& generator() {
  static Generator g;
  return g;
}

double uniform01_locked(std::mt19937_64& e) {
  return static_cast<double>(e() >> 11) * 0x1.0p-53;  // top 53 bits -> [0, 1)
}

// An uninitialised array of `shape` for `op`: the shape checked (Note [checked sizes]) and a
// failed allocation reported as AllocationError naming the op.
template <class V>
xt::xarray<V> new_array(const char* op, const Shape& shape) {
  const std::size_t n = checked_numel(op, shape, sizeof(V));
  try {
    return xt::xarray<V>::from_shape(shape);
  } catch (const std::bad_alloc&) {
    detail::throw_allocation_error(op, to_string(shape), n * sizeof(V));
  }
}

}  // namespace

void manual_seed(std::uint64_t seed) {
  std::lock_guard<std::mutex> lock(generator().mutex);
  generator().engine.seed(seed);
}

std::string rng_state() {
  std::lock_guard<std::mutex> lock(generator().mutex);
  std::ostringstream os;
  os << generator().engine;
  return os.str();
}

void set_rng_state(const std::string& state) {
  std::istringstream is(state);
  std::mt19937_64 e;
  if (!(is >> e)) throw std::invalid_argument("set_rng_state: not a generator state");
  std::lock_guard<std::mutex> lock(generator().mutex);
  generator().engine = e;
}

namespace detail {

RngSnapshot rng_snapshot() {
  std::lock_guard<std::mutex> lock(generator().mutex);
  return generator().engine;
}

void restore_rng(const RngSnapshot& snapshot) {
  std::lock_guard<std::mutex> lock(generator().mutex);
  generator().engine = snapshot;
}

}  // namespace detail

double uniform01() {
  std::lock_guard<std::mutex> lock(generator().mutex);
  return uniform01_locked(generator().engine);
}

double normal01() {
  std::lock_guard<std::mutex> lock(generator().mutex);
  auto& e = generator().engine;
  // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
  const double u1 = 1.0 - uniform01_locked(e), u2 = uniform01_locked(e);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

std::uint64_t randint(std::uint64_t n) {
  if (n == 0) throw std::invalid_argument("randint: the range [0, n) is empty (n = 0)");
  std::lock_guard<std::mutex> lock(generator().mutex);
  auto& e = generator().engine;
  // Rejection sampling: no modulo bias.
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  std::uint64_t r;
  do r = e(); while (r >= limit);
  return r % n;
}

template <class T>
void fill_uniform01(T* out, std::size_t n) {
  std::lock_guard<std::mutex> lock(generator().mutex);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(uniform01_locked(generator().engine));
}

template <class T>
xt::xarray<T> randn(const Shape& shape, T mean, T stddev) {
  if (!(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0))
    throw std::invalid_argument("randn: mean must be finite and stddev finite and >= 0, got mean " +
                                std::to_string(mean) + ", stddev " + std::to_string(stddev));
  xt::xarray<T> a = new_array<T>("randn", shape);
  for (auto& v : a) v = mean + stddev * static_cast<T>(normal01());
  return a;
}

template <class T>
xt::xarray<T> uniform(const Shape& shape, T low, T high) {
  if (!(std::isfinite(low) && std::isfinite(high) && low <= high))
    throw std::invalid_argument("uniform: the bounds must be finite with low <= high, got [" +
                                std::to_string(low) + ", " + std::to_string(high) + ")");
  xt::xarray<double> u = new_array<double>("uniform", shape);
  fill_uniform01(u.data(), u.size());
  xt::xarray<T> a = new_array<T>("uniform", shape);
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = low + (high - low) * static_cast<T>(u.data()[i]);
  return a;
}

template void fill_uniform01<float>(float*, std::size_t);
template void fill_uniform01<double>(double*, std::size_t);
template xt::xarray<float> randn<float>(const Shape&, float, float);
template xt::xarray<double> randn<double>(const Shape&, double, double);
template xt::xarray<float> uniform<float>(const Shape&, float, float);
template xt::xarray<double> uniform<double>(const Shape&, double, double);

}  // namespace tg
