#pragma once
// One library RNG (per process) for initialisation, dropout and sampling: same seed, same
// numbers, on every platform (our own transforms over std::mt19937_64, not <random>'s
// implementation-defined distributions).
#include <cstdint>
#include <string>

#include <xtensor/xarray.hpp>

#include <tapegrad/autograd/shape.hpp>

namespace tg {

void manual_seed(std::uint64_t seed);

// The generator's full state as text, and back (checkpoints resume the exact stream).
std::string rng_state();
void set_rng_state(const std::string& state);  // std::invalid_argument if malformed

// Draws from the library RNG.
double uniform01();                 // [0, 1), 53 random bits
double normal01();                  // standard normal (Box-Muller)
std::uint64_t randint(std::uint64_t n);  // uniform over [0, n), n >= 1
// n draws of uniform01() into out, taking the generator's lock once.
template <class T>
void fill_uniform01(T* out, std::size_t n);

// Arrays of a shape whose size overflows are std::invalid_argument, memory that cannot be had
// an AllocationError (std::bad_alloc), both naming the function (Note [checked sizes]).
template <class T>
xt::xarray<T> randn(const Shape& shape, T mean = T(0), T stddev = T(1));
template <class T>
xt::xarray<T> uniform(const Shape& shape, T low, T high);
template <class T>
xt::xarray<T> rand(const Shape& shape) {  // uniform over [0, 1)
  return uniform<T>(shape, T(0), T(1));
}

}  // namespace tg
