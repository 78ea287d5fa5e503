// Learning-rate schedules (optim/schedule): each lr sequence against its closed form computed
// here, composition (warm-up then cosine), groups, driving any optimizer, save/restore, errors.
#include <cmath>
#include <functional>

#include "test_helpers.hpp"

using tg::Tensor;


namespace {

// A one-parameter SGD in two groups, base lrs 0.5 and 0.2.
struct Setup {
  tg::Tensor p = tg::Tensor::param(xt::xarray<double>{1.0});
  tg::Tensor q = tg::Tensor::param(xt::xarray<double>{2.0});
  tg::SGD opt{{tg::ParamGroup({{"p", p}}, 0.5), tg::ParamGroup({{"q", q}}, 0.2)}};
};

// The lrs group g sees for steps 0..n-1 (one scheduler step after each optimizer step).
std::vector<double> lrs(tg::Optimizer& opt, tg::LRScheduler& sched, int n, std::size_t g = 0) {
  std::vector<double> out;
  for (int k = 0; k < n; ++k) {
    out.push_back(opt.lr(g));
    sched.step();
  }
  return out;
}

void check_sequence(const std::vector<double>& got, const std::function<double(int)>& want) {
  for (std::size_t k = 0; k < got.size(); ++k) {
    CAPTURE(k);
    CHECK(got[k] == doctest::Approx(want(int(k))).epsilon(1e-14));
  }
}

}  // namespace

TEST_CASE("StepLR: base times gamma to the floor of k over step_size") {
  Setup s;
  tg::StepLR sched(s.opt, 3, 0.5);
  CHECK(sched.name() == "StepLR");
  check_sequence(lrs(s.opt, sched, 12), [](int k) { return 0.5 * std::pow(0.5, k / 3); });
  CHECK(sched.last_step() == 12);
}

TEST_CASE("ExponentialLR: base times gamma to the k") {
  Setup s;
  tg::ExponentialLR sched(s.opt, 0.9);
  check_sequence(lrs(s.opt, sched, 30), [](int k) { return 0.5 * std::pow(0.9, k); });
}

TEST_CASE("CosineAnnealingLR: from base to eta_min over T_max, then PyTorch's closed form") {
  Setup s;
  tg::CosineAnnealingLR sched(s.opt, 10, 0.01);
  const auto got = lrs(s.opt, sched, 25);
  check_sequence(got, [](int k) { return 0.01 + (0.5 - 0.01) * (1 + std::cos(M_PI * k / 10.0)) / 2; });
  CHECK(got[0] == 0.5);
  CHECK(got[10] == doctest::Approx(0.01).epsilon(1e-14));
  CHECK(got[20] == doctest::Approx(0.5).epsilon(1e-14));  // beyond T_max it rises again (period 2 T_max)
}

TEST_CASE("LinearWarmup: base times k plus 1 over W during the warm-up, then base") {
  Setup s;
  tg::LinearWarmup sched(s.opt, 4);
  CHECK(sched.name() == "LinearWarmup");
  const auto got = lrs(s.opt, sched, 8);
  CHECK(got == std::vector<double>{0.125, 0.25, 0.375, 0.5, 0.5, 0.5, 0.5, 0.5});
}

TEST_CASE("LinearWarmup then cosine: the cosine starts its own clock after the warm-up") {
  Setup s;
  tg::LinearWarmup sched(s.opt, 5, tg::CosineAnnealingLR(s.opt, 10, 0.0));
  CHECK(sched.name() == "LinearWarmup(CosineAnnealingLR)");
  check_sequence(lrs(s.opt, sched, 15), [](int k) {
    return k < 5 ? 0.5 * (k + 1) / 5.0 : 0.5 * (1 + std::cos(M_PI * (k - 5) / 10.0)) / 2;
  });
  // Also with an owning pointer, and a warm-up around a step schedule.
  Setup s2;
  tg::LinearWarmup sched2(s2.opt, 2, std::make_unique<tg::StepLR>(s2.opt, 2, 0.1));
  check_sequence(lrs(s2.opt, sched2, 7), [](int k) {
    return k < 2 ? 0.5 * (k + 1) / 2.0 : 0.5 * std::pow(0.1, (k - 2) / 2);
  });
}

TEST_CASE("schedules: every group follows the schedule from its own base lr") {
  Setup s;
  tg::ExponentialLR sched(s.opt, 0.5);
  CHECK(sched.base_lrs() == std::vector<double>{0.5, 0.2});
  sched.step();
  sched.step();
  CHECK(s.opt.lr(0) == 0.125);
  CHECK(s.opt.lr(1) == doctest::Approx(0.05).epsilon(1e-15));
  CHECK(sched.lr_at(3, 1.0) == 0.125);  // a pure preview: changes nothing
  CHECK(s.opt.lr(0) == 0.125);
}

TEST_CASE("schedules drive any optimizer: step() uses the lr the schedule set") {
  // SGD on f(x) = x²/2 (gradient x): x_{k+1} = x_k - lr_k x_k with lr_k from StepLR.
  {
    tg::Tensor x = tg::Tensor::param(xt::xarray<double>{1.0});
    tg::SGD opt(std::vector<Tensor>{x}, tg::SGDOptions(0.1));
    tg::StepLR sched(opt, 2, 0.5);
    double ref = 1.0;
    for (int k = 0; k < 6; ++k) {
      opt.zero_grad();
      (tg::sum(tg::square(x)) * 0.5).backward();
      opt.step();
      sched.step();
      ref = ref - 0.1 * std::pow(0.5, k / 2) * ref;
      CHECK(x.data<double>()[0] == doctest::Approx(ref).epsilon(1e-15));
    }
  }
  // Adam: the first step moves by lr (m̂/√v̂ = ±1), so each step's size shows the lr used.
  {
    tg::Tensor x = tg::Tensor::param(xt::xarray<double>{1.0});
    tg::Adam adam(std::vector<Tensor>{x}, tg::AdamOptions(0.01).eps(0.0));
    tg::LinearWarmup sched(adam, 4);
    adam.zero_grad();
    (tg::sum(x) * 1.0).backward();  // gradient 1 every step: m̂ = v̂ = 1
    for (int k = 0; k < 6; ++k) {
      const double before = x.data<double>()[0];
      adam.step();
      sched.step();
      CHECK(before - x.data<double>()[0] == doctest::Approx(0.01 * std::min(k + 1, 4) / 4.0).epsilon(1e-12));
    }
  }
}

TEST_CASE("load_state: restores the position and the lrs, and invalid ones change nothing") {
  Setup a;
  tg::LinearWarmup run(a.opt, 3, tg::CosineAnnealingLR(a.opt, 8, 0.01));
  for (int k = 0; k < 6; ++k) run.step();

  Setup b;  // fresh objects, restored from run's position
  tg::LinearWarmup resumed(b.opt, 3, tg::CosineAnnealingLR(b.opt, 8, 0.01));
  resumed.load_state(run.last_step(), run.base_lrs());
  CHECK(resumed.last_step() == 6);
  CHECK(b.opt.lr(0) == a.opt.lr(0));
  CHECK(b.opt.lr(1) == a.opt.lr(1));
  for (int k = 0; k < 5; ++k) {
    run.step();
    resumed.step();
    CHECK(b.opt.lr(0) == a.opt.lr(0));
    CHECK(b.opt.lr(1) == a.opt.lr(1));
  }

  const double lr0 = b.opt.lr(0);
  CHECK_THROWS_WITH_AS(resumed.load_state(-1), "LRScheduler::load_state: last_step must be >= 0, got -1",
                       std::invalid_argument);
  CHECK_THROWS_AS(resumed.load_state(2, {0.1}), std::invalid_argument);  // 1 base lr, 2 groups
  CHECK_THROWS_AS(resumed.load_state(2, {0.1, -0.2}), std::invalid_argument);
  CHECK_THROWS_AS(resumed.load_state(2, {0.1, std::nan("")}), std::invalid_argument);
  CHECK(resumed.last_step() == 11);
  CHECK(b.opt.lr(0) == lr0);
  CHECK(resumed.base_lrs() == std::vector<double>{0.5, 0.2});
  resumed.load_state(0);  // base lrs kept
  CHECK(b.opt.lr(0) == 0.5 / 3);
}

TEST_CASE("schedules: invalid arguments are rejected with a clear message") {
  Setup s;
  CHECK_THROWS_WITH_AS(tg::StepLR(s.opt, 0), "StepLR: step_size must be > 0, got 0", std::invalid_argument);
  CHECK_THROWS_AS(tg::StepLR(s.opt, 2, -0.5), std::invalid_argument);
  CHECK_THROWS_AS(tg::ExponentialLR(s.opt, std::nan("")), std::invalid_argument);
  CHECK_THROWS_WITH_AS(tg::CosineAnnealingLR(s.opt, 0), "CosineAnnealingLR: T_max must be > 0, got 0",
                       std::invalid_argument);
  CHECK_THROWS_AS(tg::CosineAnnealingLR(s.opt, 5, -1.0), std::invalid_argument);
  CHECK_THROWS_WITH_AS(tg::LinearWarmup(s.opt, 0), "LinearWarmup: warmup_steps must be > 0, got 0",
                       std::invalid_argument);
  Setup other;
  CHECK_THROWS_WITH_AS(tg::LinearWarmup(s.opt, 3, tg::StepLR(other.opt, 2)),
                       "LinearWarmup: the schedule after the warm-up drives a different optimizer; "
                       "build it on the same one",
                       std::invalid_argument);
}
