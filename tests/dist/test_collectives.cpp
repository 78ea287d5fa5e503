// tg::dist collectives on known tensors, run under `mpirun -np N` (N >= 2): the gradient
// average is exact, parameters come from rank 0, rows gather in rank order, and a difference in
// configuration is named. Expected values come from plain loops over the ranks here.
// Note: CHECK, never REQUIRE, before a collective: a rank leaving a test case early would
// leave the others waiting.
#include <doctest/doctest.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include <tapegrad/dist/dist.hpp>
#include <tapegrad/tapegrad.hpp>

namespace {

// The value rank r puts at element i: small multiples of 1/4, so sums and halvings are exact.
float known(int r, std::size_t i) { return float(int(i % 17) - 8) * 0.25f + float(r + 1) * 3.0f; }

tg::Tensor param_with(const tg::Shape& shape, float fill) {
  return tg::Tensor::param(xt::xarray<float>(xt::zeros<float>(shape)) + fill);
}

}  // namespace

TEST_SUITE("mpi") {

TEST_CASE("dist: the test runs on at least 2 ranks") {
  CHECK(tg::dist::initialized());
  CHECK(tg::dist::world_size() >= 2);
  CHECK(tg::dist::rank() < tg::dist::world_size());
}

TEST_CASE("dist: the gradient allreduce of known tensors is the exact mean over ranks") {
  const int r = tg::dist::rank(), n = tg::dist::world_size();
  // Three tensors of different shapes, one fused buffer.
  std::vector<tg::Tensor> params{param_with({3, 5}, 0), param_with({7}, 0), param_with({2, 2, 2}, 0)};
  std::size_t offset = 0;
  for (auto& p : params) {
    float* g = p.grad_data<float>();
    for (std::size_t i = 0; i < p.numel(); ++i) g[i] = known(r, offset + i);
    offset += p.numel();
  }
  tg::dist::GradientAllreduce grads(params);
  CHECK(grads.numel() == 15 + 7 + 8);
  grads.average();
  CHECK(grads.calls() == 1);
  offset = 0;
  std::size_t wrong = 0;
  for (auto& p : params) {
    const float* g = p.grad_data<float>();
    for (std::size_t i = 0; i < p.numel(); ++i) {
      double sum = 0;
      for (int k = 0; k < n; ++k) sum += double(known(k, offset + i));
      if (double(g[i]) != sum / n) ++wrong;  // exact, not approximate
    }
    offset += p.numel();
  }
  CHECK(wrong == 0);
  // The buffer is reused: a second step averages the new gradients, not the old ones.
  for (auto& p : params) p.zero_grad();
  float* g0 = params[0].grad_data<float>();
  g0[0] = float(r);  // the other elements stay 0
  grads.average();
  CHECK(params[0].grad_data<float>()[0] == float(n - 1) / 2.0f);  // mean of 0..n-1
  CHECK(params[1].grad_data<float>()[3] == 0.0f);
}

TEST_CASE("dist: the allreduce zero-fills a gradient some ranks lack and leaves alone a parameter no rank reached") {
  const int r = tg::dist::rank(), n = tg::dist::world_size();
  tg::Tensor everywhere = param_with({4}, 1.0f), on_root = param_with({3}, 1.0f), nowhere = param_with({5}, 1.0f);
  tg::Tensor loss = tg::sum(everywhere * float(r + 1));  // grad = r + 1 on rank r
  if (r == 0) loss = loss + tg::sum(on_root * 2.0f);     // grad = 2 on rank 0 only
  loss.backward();
  (void)on_root.grad();  // reading a gradient creates none
  (void)nowhere.grad();
  CHECK(on_root.has_grad() == (r == 0));
  CHECK_FALSE(nowhere.has_grad());
  tg::dist::GradientAllreduce grads({everywhere, on_root, nowhere});
  grads.average();
  // The missing gradient counted as zeros: every rank now has the mean 2 / n.
  CHECK(on_root.has_grad());
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < 3; ++i) wrong += on_root.grad_data<float>()[i] != 2.0f / float(n);
  for (std::size_t i = 0; i < 4; ++i) wrong += everywhere.grad_data<float>()[i] != float(n + 1) / 2.0f;
  CHECK(wrong == 0);
  // No rank reached it: no gradient anywhere, so a step leaves it alone, as in one process.
  CHECK_FALSE(nowhere.has_grad());
  tg::SGD opt(std::vector<tg::Tensor>{everywhere, on_root, nowhere}, {0.5, 0.9, 0.0, 0.1});
  opt.step();
  CHECK(nowhere.to_xarray<float>() == xt::xarray<float>(xt::ones<float>({5})));
  CHECK(on_root.data<float>()[0] != 1.0f);
  // A second round after zero_grad(true): the same rules, the collectives still matched.
  opt.zero_grad(true);
  if (r == n - 1) tg::sum(nowhere * 4.0f).backward();  // now only the last rank reaches it
  grads.average();
  CHECK_FALSE(everywhere.has_grad());
  CHECK_FALSE(on_root.has_grad());
  CHECK(nowhere.has_grad());
  wrong = 0;
  for (std::size_t i = 0; i < 5; ++i) wrong += nowhere.grad_data<float>()[i] != 4.0f / float(n);
  CHECK(wrong == 0);
  CHECK(grads.calls() == 2);
  tg::clear_tape();
}

TEST_CASE("dist: broadcast_parameters gives every rank the values of rank 0") {
  const int r = tg::dist::rank();
  std::vector<tg::Tensor> params{param_with({4, 3}, float(r) + 0.5f), param_with({5}, float(10 * r))};
  tg::dist::broadcast_parameters(params);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < 12; ++i) wrong += params[0].data<float>()[i] != 0.5f;
  for (std::size_t i = 0; i < 5; ++i) wrong += params[1].data<float>()[i] != 0.0f;
  CHECK(wrong == 0);
}

TEST_CASE("dist: gather_rows stacks every rank's rows in rank order on rank 0") {
  const int r = tg::dist::rank(), n = tg::dist::world_size();
  // Rank r holds 2 rows of 3: row j is [100r + 10j + 0, +1, +2].
  xt::xarray<float> mine = xt::xarray<float>::from_shape({2, 3});
  for (std::size_t j = 0; j < 2; ++j)
    for (std::size_t c = 0; c < 3; ++c) mine(j, c) = float(100 * r + 10 * int(j) + int(c));
  const tg::Tensor all = tg::dist::gather_rows(tg::Tensor::constant(mine));
  if (r == 0) {
    CHECK(all.shape() == tg::Shape{std::size_t(2 * n), 3});
    std::size_t wrong = 0;
    for (int k = 0; k < n; ++k)
      for (std::size_t j = 0; j < 2; ++j)
        for (std::size_t c = 0; c < 3; ++c)
          wrong += all.value<float>()(std::size_t(2 * k) + j, c) != float(100 * k + 10 * int(j) + int(c));
    CHECK(wrong == 0);
  }
}

TEST_CASE("dist: allreduce_sum, broadcast and allgather of scalars and strings") {
  const int r = tg::dist::rank(), n = tg::dist::world_size();
  std::vector<double> v{double(r), 1.0};
  tg::dist::allreduce_sum(v);
  CHECK(v[0] == double(n * (n - 1) / 2));
  CHECK(v[1] == double(n));
  CHECK(tg::dist::broadcast(double(r) + 7.0) == 7.0);
  const std::vector<std::string> names = tg::dist::allgather(std::string(std::size_t(r + 1), 'a' + char(r)));
  CHECK(names.size() == std::size_t(n));
  for (int k = 0; k < n; ++k) CHECK(names[std::size_t(k)] == std::string(std::size_t(k + 1), 'a' + char(k)));
}

TEST_CASE("dist: check_same_settings passes equal settings and names the first difference") {
  const int r = tg::dist::rank();
  CHECK_NOTHROW(tg::dist::check_same_settings({{"--batch", "8"}, {"--lr", "0.002"}}));
  std::string message;
  try {
    tg::dist::check_same_settings({{"--batch", "8"}, {"--lr", r == 0 ? "0.002" : "0.01"}});
  } catch (const std::invalid_argument& e) {
    message = e.what();
  }
  // Every rank sees the difference (all of them throw, so none goes on alone).
  CHECK(message == "configuration differs across ranks: --lr is '0.002' on rank 0 but '0.01' on rank 1");
}

}  // TEST_SUITE
