// Tensor handles, leaves, integer id tensors, the library RNG and thread settings.
#include <cmath>

#include "test_helpers.hpp"

using tg::Tensor;


TEST_CASE("tensor: leaves from values, shapes, item") {
  tg::Tensor p = tg::Tensor::param(xt::xarray<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  CHECK(p.requires_grad());
  CHECK(p.is_leaf());
  CHECK(p.shape() == tg::Shape{2, 3});
  CHECK(p.size(-1) == 3);
  CHECK(p.numel() == 6);
  CHECK(p.value<double>()(1, 2) == 6.0);
  CHECK_THROWS_AS(p.item(), std::invalid_argument);
  CHECK_THROWS_AS(p.size(2), std::invalid_argument);

  Tensor c = Tensor::constant(xt::xarray<float>{1.5f});
  CHECK_FALSE(c.requires_grad());
  CHECK(c.item() == 1.5f);
  CHECK_THROWS_AS(c.grad(), std::logic_error);

  CHECK(Tensor::zeros({3, 2}).value<float>() == xt::zeros<float>({3, 2}));
  CHECK(tg::Tensor::full({2}, 7.0, tg::kFloat64).value<double>()(1) == 7.0);
  CHECK(tg::Tensor::scalar(2.5, tg::kFloat64).shape().empty());
}

TEST_CASE("tensor: set_requires_grad freezes a leaf - non-leaves refuse") {
  tg::Tensor w = tg::Tensor::param(xt::xarray<double>{1.0, 2.0});
  w.set_requires_grad(false);
  CHECK_FALSE(tg::tanh(w).requires_grad());
  w.set_requires_grad(true);
  tg::Tensor y = w * 2.0;
  CHECK_THROWS_AS(y.set_requires_grad(false), std::logic_error);
  tg::clear_tape();
}

TEST_CASE("tensor: grad of a leaf is undefined before any backward - grad_data() creates one - data is writable") {
  tg::Tensor w = tg::Tensor::param(xt::xarray<double>{1.0, 2.0});
  CHECK_FALSE(w.grad().defined());
  w.mutable_data<double>()[0] = 5.0;
  CHECK(w.value<double>()(0) == 5.0);
  w.grad_data<double>()[1] = 3.0;  // the writable accessor allocates zeros
  CHECK(w.has_grad());
  const tg::Tensor g = w.grad();
  CHECK(g.value<double>() == xt::xarray<double>{0.0, 3.0});
  CHECK_FALSE(g.requires_grad());  // a copy without history
  w.grad_data<double>()[0] = 1.0;
  CHECK(g.value<double>()(0) == 0.0);  // a copy: later writes do not show in it
}

TEST_CASE("tensor: reading grad() never creates a gradient, so has_grad() stays as it was") {
  tg::Tensor w = tg::Tensor::param(xt::xarray<double>{1.0, 2.0});
  tg::Tensor u = tg::Tensor::param(xt::xarray<double>{3.0});
  const tg::MemoryStats before = tg::memory_stats();
  CHECK_FALSE(w.has_grad());
  CHECK_FALSE(w.grad().defined());  // a leaf that no backward reached
  CHECK_FALSE(w.has_grad());
  CHECK(tg::memory_stats().live_buffers == before.live_buffers);
  // A non-leaf that retains its gradient but that backward never reached.
  tg::Tensor h = w * 2.0;
  h.retain_grad();
  tg::sum(u * u).backward();  // reaches u only
  CHECK(u.has_grad());
  CHECK_FALSE(h.grad().defined());
  CHECK_FALSE(h.has_grad());
  CHECK_FALSE(w.grad().defined());
  CHECK_FALSE(w.has_grad());
  CHECK(u.grad().value<double>()(0) == 6.0);
  tg::clear_tape();
}

TEST_CASE("tensor: zero_grad() keeps a zero gradient, zero_grad(true) releases it (set to none)") {
  tg::Tensor w = tg::Tensor::param(xt::xarray<double>{1.0, -2.0});
  tg::Tensor h = w * 2.0;
  h.retain_grad();
  tg::sum(h * h).backward();
  w.zero_grad();
  h.zero_grad();
  CHECK(w.has_grad());
  CHECK(h.has_grad());
  CHECK(w.grad().value<double>() == xt::zeros<double>({2}));
  CHECK(h.grad().value<double>() == xt::zeros<double>({2}));
  w.zero_grad(true);
  h.zero_grad(true);
  CHECK_FALSE(w.has_grad());
  CHECK_FALSE(h.has_grad());
  CHECK_FALSE(w.grad().defined());
  CHECK_FALSE(h.grad().defined());
  w.zero_grad(true);  // again: nothing to release
  CHECK_FALSE(w.has_grad());
  tg::Tensor c = tg::Tensor::constant(xt::xarray<double>{1.0});
  c.zero_grad(true);  // a constant has none to begin with
  CHECK_FALSE(c.has_grad());
  tg::clear_tape();
}

TEST_CASE("IdTensor: from int32 and int64 arrays, and braces") {
  tg::IdTensor a = xt::xarray<int32_t>{{1, 2}, {3, 4}};
  tg::IdTensor b = xt::xarray<int64_t>{7, 8, 9};
  tg::IdTensor c = {4, 5};
  CHECK(a.shape() == tg::Shape{2, 2});
  CHECK(a.data()[3] == 4);
  CHECK(b.size() == 3);
  CHECK(c.data()[1] == 5);
}

TEST_CASE("random: manual_seed reproduces the stream - state round-trips") {
  tg::manual_seed(42);
  const auto a = tg::randn<double>({100});
  tg::manual_seed(42);
  const auto b = tg::randn<double>({100});
  CHECK(a == b);
  const std::string state = tg::rng_state();
  const auto c = tg::uniform<float>({10}, -2.0f, 3.0f);
  tg::set_rng_state(state);
  CHECK(tg::uniform<float>({10}, -2.0f, 3.0f) == c);
  CHECK_THROWS_AS(tg::set_rng_state("not a state"), std::invalid_argument);
  CHECK_THROWS_AS(tg::randint(0), std::invalid_argument);
}

TEST_CASE("random: randn and uniform have the requested moments and range") {
  tg::manual_seed(1);
  const auto n = tg::randn<double>({20000});
  double mean = 0, var = 0;
  for (double v : n) mean += v;
  mean /= n.size();
  for (double v : n) var += (v - mean) * (v - mean);
  var /= n.size();
  CHECK(std::abs(mean) < 0.03);        // 4 standard errors
  CHECK(std::abs(var - 1.0) < 0.04);
  const auto u = tg::uniform<double>({20000}, -0.5, 0.25);
  CHECK(xt::amin(u)() >= -0.5);
  CHECK(xt::amax(u)() < 0.25);
  std::size_t counts[3] = {0, 0, 0};
  for (int i = 0; i < 3000; ++i) counts[tg::randint(3)] += 1;
  for (auto k : counts) CHECK(std::abs(double(k) - 1000.0) < 130.0);
}

TEST_CASE("threads: set_num_threads validates and is remembered") {
  CHECK_THROWS_WITH_AS(tg::set_num_threads(0), doctest::Contains("at least 1"), std::invalid_argument);
  tg::set_num_threads(2);
  CHECK(tg::get_num_threads() == 2);
  tg::set_num_threads(1);
  CHECK(tg::get_num_threads() == 1);
}

// The pin of cmake/TapegradBlas.cmake: RUNPATH loads the pthread build from its own folder,
// whatever the system's libopenblas.so.0 alternative points to.
TEST_CASE("threads: the OpenBLAS serving the GEMMs is the pinned pthread build") {
  const tg::BlasLibrary lib = tg::blas_library();
  CHECK(lib.threading == tg::expected_blas_threading());
  CHECK(lib.threading == "pthread");
  CHECK_MESSAGE(lib.config.rfind("OpenBLAS", 0) == 0, lib.config);
  CHECK_FALSE(lib.core.empty());
  CHECK_MESSAGE(lib.path.find("/openblas-pthread/") != std::string::npos, lib.path);
}
