// tg::dist collectives on known tensors, run under `mpirun -np N` (N >= 2): the gradient
// average is exact, parameters come from rank 0, rows gather in rank order, and a difference in
// configuration is named, for float32, float64 and mixed parameters. Expected values come from
// plain loops over the ranks here.
// Note: CHECK, never REQUIRE, before a collective: a rank leaving a test case early would
// leave the others waiting.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <tapegrad/dist/dist.hpp>
#include <tapegrad/tapegrad.hpp>

namespace {

// The value rank r puts at element i: small multiples of 1/4, so sums and halvings are exact.
float known(int r, std::size_t i) { return float(int(i % 17) - 8) * 0.25f + float(r + 1) * 3.0f; }

tg::Tensor param_with(const tg::Shape& shape, float fill) {
  return tg::Tensor::param(xt::xarray<float>(xt::zeros<float>(shape)) + fill);
}

tg::Tensor param64_with(const tg::Shape& shape, double fill) {
  return tg::Tensor::param(xt::xarray<double>(xt::zeros<double>(shape)) + fill);
}

// Rank k's input [4, 3] for the float64 model: different on every rank.
tg::Tensor input64(int k) {
  xt::xarray<double> x = xt::xarray<double>::from_shape({4, 3});
  for (std::size_t i = 0; i < x.size(); ++i) x.flat(i) = double(int(i % 7) - 3) * 0.1 + 0.5 * k;
  return tg::Tensor::constant(x);
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
  CHECK(grads.bytes() == 4 * (15 + 7 + 8));
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

TEST_CASE("dist: a model converted to float64 has its gradients averaged in float64") {
  const int r = tg::dist::rank(), n = tg::dist::world_size();
  tg::manual_seed(3);  // the same initial weights on every rank
  tg::Linear lin(3, 2);
  lin.to(tg::kFloat64);
  std::vector<tg::Tensor> params = lin.parameters();  // weight [2, 3], bias [2]
  auto backward_on = [&](int k) {
    for (auto& p : params) p.zero_grad(true);
    tg::sum(tg::tanh(lin(input64(k)))).backward();
  };
  // Expected: every rank's gradient, computed here in turn, summed in rank order.
  std::vector<std::vector<double>> sum(params.size());
  for (std::size_t j = 0; j < params.size(); ++j) sum[j].assign(params[j].numel(), 0.0);
  for (int k = 0; k < n; ++k) {
    backward_on(k);
    for (std::size_t j = 0; j < params.size(); ++j)
      for (std::size_t i = 0; i < params[j].numel(); ++i) sum[j][i] += params[j].grad_data<double>()[i];
  }
  backward_on(r);
  tg::dist::GradientAllreduce grads(params);
  CHECK(grads.numel() == 6 + 2);
  CHECK(grads.bytes() == 8 * (6 + 2));
  grads.average();
  CHECK(grads.calls() == 1);
  std::size_t wrong = 0;
  for (std::size_t j = 0; j < params.size(); ++j) {
    CHECK(params[j].dtype() == tg::kFloat64);
    for (std::size_t i = 0; i < params[j].numel(); ++i) {
      const double want = sum[j][i] / n, got = params[j].grad_data<double>()[i];
      wrong += std::abs(got - want) > 1e-14 * (1 + std::abs(want));  // float64 sums, only the order may differ
    }
  }
  CHECK(wrong == 0);
}

TEST_CASE("dist: float32 and float64 parameters together are averaged exactly, each in its dtype") {
  const int r = tg::dist::rank(), n = tg::dist::world_size();
  std::vector<tg::Tensor> params{param_with({3, 5}, 0), param64_with({7}, 0), param_with({4}, 0),
                                 param64_with({2, 2}, 0)};
  std::size_t offset = 0;
  for (auto& p : params) {
    for (std::size_t i = 0; i < p.numel(); ++i) {
      if (p.dtype() == tg::kFloat32) p.grad_data<float>()[i] = known(r, offset + i);
      else p.grad_data<double>()[i] = double(known(r, offset + i));
    }
    offset += p.numel();
  }
  tg::dist::GradientAllreduce grads(params);
  CHECK(grads.numel() == 15 + 7 + 4 + 4);
  CHECK(grads.bytes() == 4 * (15 + 4) + 8 * (7 + 4));
  grads.average();
  offset = 0;
  std::size_t wrong = 0;
  for (auto& p : params) {
    for (std::size_t i = 0; i < p.numel(); ++i) {
      double sum = 0;
      for (int k = 0; k < n; ++k) sum += double(known(k, offset + i));
      const double got = p.dtype() == tg::kFloat32 ? double(p.grad_data<float>()[i]) : p.grad_data<double>()[i];
      wrong += got != sum / n;  // exact: multiples of 1/4
    }
    offset += p.numel();
  }
  CHECK(wrong == 0);
  CHECK(params[1].dtype() == tg::kFloat64);
}

TEST_CASE("dist: a parameter float32 on some ranks and float64 on others is refused on every rank") {
  const int r = tg::dist::rank();
  tg::Tensor p = r == 0 ? param_with({3}, 1.0f) : param64_with({3}, 1.0);  // a rank converted alone
  if (r == 0) p.grad_data<float>()[0] = 1.0f;
  else p.grad_data<double>()[0] = 1.0;
  tg::dist::GradientAllreduce grads({p});
  // Every rank sees the ORed flags, so every rank throws and none waits in a collective.
  CHECK_THROWS_WITH_AS(grads.average(),
                       "tg::dist::GradientAllreduce: parameter 0 is float32 on some ranks and float64 on others: "
                       "convert the model on every rank",
                       std::invalid_argument);
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
  tg::SGD opt(std::vector<tg::Tensor>{everywhere, on_root, nowhere}, tg::SGDOptions(0.5).momentum(0.9).weight_decay(0.1));
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

TEST_CASE("dist: broadcast_parameters of float32 and float64 parameters gives every rank the values of rank 0") {
  const int r = tg::dist::rank();
  std::vector<tg::Tensor> params{param_with({4, 3}, float(r) + 0.5f), param64_with({5}, 10.0 * r + 0.25),
                                 param_with({2}, float(r))};
  tg::dist::broadcast_parameters(params);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < 12; ++i) wrong += params[0].data<float>()[i] != 0.5f;
  for (std::size_t i = 0; i < 5; ++i) wrong += params[1].data<double>()[i] != 0.25;
  for (std::size_t i = 0; i < 2; ++i) wrong += params[2].data<float>()[i] != 0.0f;
  CHECK(wrong == 0);
  CHECK(params[1].dtype() == tg::kFloat64);
}

TEST_CASE("dist: gather_rows of float64 rows keeps float64") {
  const int r = tg::dist::rank(), n = tg::dist::world_size();
  xt::xarray<double> mine = xt::xarray<double>::from_shape({1, 2});
  mine(0, 0) = 0.1 + r;  // not exact in float32
  mine(0, 1) = -1e300;   // beyond float32's range
  const tg::Tensor all = tg::dist::gather_rows(tg::Tensor::constant(mine));
  if (r == 0) {
    CHECK(all.dtype() == tg::kFloat64);
    CHECK(all.shape() == tg::Shape{std::size_t(n), 2});
    std::size_t wrong = 0;
    for (int k = 0; k < n; ++k)
      wrong += all.value<double>()(std::size_t(k), 0) != 0.1 + k || all.value<double>()(std::size_t(k), 1) != -1e300;
    CHECK(wrong == 0);
  }
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
