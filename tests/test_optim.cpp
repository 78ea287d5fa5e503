// Optimizers (optim/optimizer, sgd, adam, adagrad, rmsprop): trajectories on a small quadratic
// against reference loops written here from torch.optim's documented algorithms, parameter
// groups, frozen parameters, state save/restore, argument checks, and no allocation per step.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include "test_helpers.hpp"

using tg::Tensor;


// ---- counting heap allocations (step() must not allocate after its first call) ----

static std::atomic<long> g_allocations{0};
void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

// ---- the problem: loss = ½ Σ a (x - c)² over two tensors, so ∂loss/∂x = a (x - c) ----

const xt::xarray<double> kA_w = {{1.0, 2.0, 0.5}, {3.0, 1.5, 0.8}};
const xt::xarray<double> kC_w = {{0.1, 0.2, -0.3}, {0.4, -0.5, 0.6}};
const xt::xarray<double> kA_b = {2.5, 0.7, 1.2};
const xt::xarray<double> kC_b = {-0.2, 0.3, 0.05};

template <class T>
struct QuadT : tg::Module {
  tg::Tensor w, b;  // "weight" [2, 3], "bias" [3]
  QuadT()
      : w(this->register_parameter("weight", tg::Tensor::param(xt::xarray<T>(
                                                 xt::xarray<double>{{0.5, -1.0, 2.0}, {0.3, -0.7, 1.5}})))),
        b(this->register_parameter("bias", tg::Tensor::param(
                                               xt::xarray<T>(xt::xarray<double>{0.2, -0.4, 0.9})))) {}
  tg::Tensor loss() const {
    using C = tg::Tensor;
    const C aw = C::constant(xt::xarray<T>(kA_w)), cw = C::constant(xt::xarray<T>(kC_w));
    const C ab = C::constant(xt::xarray<T>(kA_b)), cb = C::constant(xt::xarray<T>(kC_b));
    return (tg::sum(aw * tg::square(w - cw)) + tg::sum(ab * tg::square(b - cb))) * T(0.5);
  }
};
using Quad = QuadT<double>;

// The same problem flattened (weight then bias), with each element's lr and weight decay.
struct Flat {
  std::vector<double> x, a, c, lr, wd;
  Flat(double lr_w, double wd_w, double lr_b, double wd_b) {
    const std::vector<double> x0 = {0.5, -1.0, 2.0, 0.3, -0.7, 1.5, 0.2, -0.4, 0.9};
    x = x0;
    a.assign(kA_w.begin(), kA_w.end());
    a.insert(a.end(), kA_b.begin(), kA_b.end());
    c.assign(kC_w.begin(), kC_w.end());
    c.insert(c.end(), kC_b.begin(), kC_b.end());
    for (std::size_t i = 0; i < x.size(); ++i) {
      lr.push_back(i < 6 ? lr_w : lr_b);
      wd.push_back(i < 6 ? wd_w : wd_b);
    }
  }
  double grad(std::size_t i) const { return a[i] * (x[i] - c[i]); }
};

using Trajectory = std::vector<std::vector<double>>;  // the parameters after each step

template <class T>
std::vector<double> flat_params(const QuadT<T>& q) {
  std::vector<double> out;
  for (const auto& [name, p] : q.named_parameters())
    for (std::size_t i = 0; i < p.numel(); ++i) out.push_back(double(p.template data<T>()[i]));
  return out;
}

template <class T>
Trajectory run(tg::Optimizer& opt, QuadT<T>& q, int steps) {
  Trajectory out;
  for (int k = 0; k < steps; ++k) {
    opt.zero_grad();
    q.loss().backward();
    opt.step();
    out.push_back(flat_params(q));
  }
  return out;
}

double max_diff(const Trajectory& a, const Trajectory& b) {
  REQUIRE(a.size() == b.size());
  double m = 0.0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    REQUIRE(a[k].size() == b[k].size());
    for (std::size_t i = 0; i < a[k].size(); ++i) m = std::max(m, std::fabs(a[k][i] - b[k][i]));
  }
  return m;
}

#define CHECK_TRAJECTORY(ours, reference)                                   \
  do {                                                                      \
    const double d_ = max_diff(ours, reference);                            \
    MESSAGE("max |tapegrad - reference| over the trajectory: " << d_);      \
    CHECK(d_ <= 1e-6);                                                      \
  } while (0)

// ---- reference loops, one per algorithm, from the torch.optim documentation ----

Trajectory ref_sgd(Flat f, int steps, double mu, double tau, bool nesterov) {
  Trajectory out;
  std::vector<double> b(f.x.size(), 0.0);
  for (int t = 1; t <= steps; ++t) {
    for (std::size_t i = 0; i < f.x.size(); ++i) {
      double g = f.grad(i);
      if (f.wd[i] != 0.0) g = g + f.wd[i] * f.x[i];
      if (mu != 0.0) {
        b[i] = t > 1 ? mu * b[i] + (1.0 - tau) * g : g;
        g = nesterov ? g + mu * b[i] : b[i];
      }
      f.x[i] = f.x[i] - f.lr[i] * g;
    }
    out.push_back(f.x);
  }
  return out;
}

Trajectory ref_adam(Flat f, int steps, double beta1, double beta2, double eps, bool decoupled) {
  Trajectory out;
  std::vector<double> m(f.x.size(), 0.0), v(f.x.size(), 0.0);
  for (int t = 1; t <= steps; ++t) {
    for (std::size_t i = 0; i < f.x.size(); ++i) {
      double g = f.grad(i);  // at θ_{t-1}
      if (decoupled)
        f.x[i] = f.x[i] - f.lr[i] * f.wd[i] * f.x[i];
      else if (f.wd[i] != 0.0)
        g = g + f.wd[i] * f.x[i];
      m[i] = beta1 * m[i] + (1.0 - beta1) * g;
      v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
      const double m_hat = m[i] / (1.0 - std::pow(beta1, t));
      const double v_hat = v[i] / (1.0 - std::pow(beta2, t));
      f.x[i] = f.x[i] - f.lr[i] * m_hat / (std::sqrt(v_hat) + eps);
    }
    out.push_back(f.x);
  }
  return out;
}

Trajectory ref_adagrad(Flat f, int steps, double lr_decay, double init_acc, double eps) {
  Trajectory out;
  std::vector<double> sum(f.x.size(), init_acc);
  for (int t = 1; t <= steps; ++t) {
    for (std::size_t i = 0; i < f.x.size(); ++i) {
      double g = f.grad(i);
      const double lr_t = f.lr[i] / (1.0 + (t - 1) * lr_decay);
      if (f.wd[i] != 0.0) g = g + f.wd[i] * f.x[i];
      sum[i] = sum[i] + g * g;
      f.x[i] = f.x[i] - lr_t * g / (std::sqrt(sum[i]) + eps);
    }
    out.push_back(f.x);
  }
  return out;
}

Trajectory ref_rmsprop(Flat f, int steps, double alpha, double eps, double mu, bool centered) {
  Trajectory out;
  const std::size_t n = f.x.size();
  std::vector<double> v(n, 0.0), b(n, 0.0), g_ave(n, 0.0);
  for (int t = 1; t <= steps; ++t) {
    for (std::size_t i = 0; i < n; ++i) {
      double g = f.grad(i);
      if (f.wd[i] != 0.0) g = g + f.wd[i] * f.x[i];
      v[i] = alpha * v[i] + (1.0 - alpha) * g * g;
      double v_tilde = v[i];
      if (centered) {
        g_ave[i] = g_ave[i] * alpha + (1.0 - alpha) * g;
        v_tilde = v_tilde - g_ave[i] * g_ave[i];
      }
      if (mu > 0.0) {
        b[i] = mu * b[i] + g / (std::sqrt(v_tilde) + eps);
        f.x[i] = f.x[i] - f.lr[i] * b[i];
      } else {
        f.x[i] = f.x[i] - f.lr[i] * g / (std::sqrt(v_tilde) + eps);
      }
    }
    out.push_back(f.x);
  }
  return out;
}

// Every parameter value and every state tensor, as bytes: "nothing changed" means equal.
std::vector<std::vector<unsigned char>> snapshot(const tg::Optimizer& opt) {
  std::vector<std::vector<unsigned char>> out;
  auto add = [&](const std::string& name, const tg::Tensor& t) {
    out.emplace_back(name.begin(), name.end());
    out.emplace_back(1, static_cast<unsigned char>(t.dtype()));
    tg::visit_dtype(t.dtype(), [&](auto v) {
      const auto* p = reinterpret_cast<const unsigned char*>(t.data<decltype(v)>());
      out.emplace_back(p, p + t.numel() * sizeof v);
    });
  };
  for (const auto& [name, p] : opt.named_parameters()) add(name, p);
  for (const auto& [name, s] : opt.state()) add(name, s);
  for (std::size_t g = 0; g < opt.num_groups(); ++g) {
    const double lr = opt.lr(g), wd = opt.weight_decay(g);
    const auto* a = reinterpret_cast<const unsigned char*>(&lr);
    const auto* b = reinterpret_cast<const unsigned char*>(&wd);
    out.emplace_back(a, a + sizeof lr);
    out.emplace_back(b, b + sizeof wd);
  }
  return out;
}

const int kSteps = 12;

}  // namespace

// ---- trajectories ----

TEST_CASE("SGD: plain, momentum, dampening, Nesterov and weight decay follow the reference") {
  struct Case {
    double lr, mu, tau, wd;
    bool nesterov;
  };
  for (const Case c : {Case{0.1, 0.0, 0.0, 0.0, false}, Case{0.05, 0.9, 0.0, 0.0, false},
                       Case{0.05, 0.9, 0.3, 0.0, false}, Case{0.05, 0.9, 0.0, 0.0, true},
                       Case{0.05, 0.8, 0.1, 0.1, false}, Case{0.03, 0.7, 0.0, 0.2, true},
                       Case{0.1, 0.0, 0.0, 0.3, false}}) {
    CAPTURE(c.lr);
    CAPTURE(c.mu);
    CAPTURE(c.tau);
    CAPTURE(c.wd);
    CAPTURE(c.nesterov);
    Quad q;
    tg::SGD opt(q.named_parameters(), tg::SGDOptions(c.lr).momentum(c.mu).dampening(c.tau).weight_decay(c.wd).nesterov(c.nesterov));
    CHECK_TRAJECTORY(run(opt, q, kSteps), ref_sgd(Flat(c.lr, c.wd, c.lr, c.wd), kSteps, c.mu, c.tau, c.nesterov));
  }
}

TEST_CASE("Adam: bias-corrected moments and L2 weight decay follow the reference") {
  struct Case {
    double lr, beta1, beta2, eps, wd;
  };
  for (const Case c : {Case{0.1, 0.9, 0.999, 1e-8, 0.0}, Case{0.05, 0.8, 0.99, 1e-3, 0.0},
                       Case{0.1, 0.9, 0.999, 1e-8, 0.2}, Case{0.02, 0.0, 0.9, 1e-6, 0.05}}) {
    CAPTURE(c.lr);
    CAPTURE(c.beta1);
    CAPTURE(c.beta2);
    CAPTURE(c.eps);
    CAPTURE(c.wd);
    Quad q;
    tg::Adam opt(q.named_parameters(), tg::AdamOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(c.wd));
    CHECK(std::string(opt.name()) == "Adam");
    CHECK_TRAJECTORY(run(opt, q, kSteps),
                     ref_adam(Flat(c.lr, c.wd, c.lr, c.wd), kSteps, c.beta1, c.beta2, c.eps, false));
  }
}

TEST_CASE("AdamW: decoupled weight decay follows the reference and differs from Adam's L2") {
  for (const double wd : {0.01, 0.3}) {
    CAPTURE(wd);
    Quad q;
    tg::AdamW opt(q.named_parameters(), tg::AdamWOptions(0.1).weight_decay(wd));
    CHECK(std::string(opt.name()) == "AdamW");
    const Trajectory ours = run(opt, q, kSteps);
    CHECK_TRAJECTORY(ours, ref_adam(Flat(0.1, wd, 0.1, wd), kSteps, 0.9, 0.999, 1e-8, true));
    // The two kinds of decay really differ (guards against a swapped flag).
    CHECK(max_diff(ours, ref_adam(Flat(0.1, wd, 0.1, wd), kSteps, 0.9, 0.999, 1e-8, false)) > 1e-4);
  }
  Quad q;
  tg::AdamW defaults(q.named_parameters());
  CHECK(defaults.weight_decay() == 1e-2);  // PyTorch's AdamW default
}

TEST_CASE("Adagrad: lr decay, initial accumulator and weight decay follow the reference") {
  struct Case {
    double lr, lr_decay, wd, init, eps;
  };
  for (const Case c : {Case{0.5, 0.0, 0.0, 0.0, 1e-10}, Case{0.3, 0.1, 0.0, 0.0, 1e-10},
                       Case{0.3, 0.05, 0.1, 0.5, 1e-6}}) {
    CAPTURE(c.lr);
    CAPTURE(c.lr_decay);
    CAPTURE(c.wd);
    CAPTURE(c.init);
    Quad q;
    tg::Adagrad opt(q.named_parameters(), tg::AdagradOptions(c.lr).lr_decay(c.lr_decay).weight_decay(c.wd).initial_accumulator_value(c.init).eps(c.eps));
    CHECK_TRAJECTORY(run(opt, q, kSteps),
                     ref_adagrad(Flat(c.lr, c.wd, c.lr, c.wd), kSteps, c.lr_decay, c.init, c.eps));
  }
}

TEST_CASE("RMSprop: alpha, momentum, centered and weight decay follow the reference") {
  struct Case {
    double lr, alpha, eps, wd, mu;
    bool centered;
  };
  for (const Case c : {Case{0.01, 0.99, 1e-8, 0.0, 0.0, false}, Case{0.02, 0.9, 1e-8, 0.0, 0.0, true},
                       Case{0.01, 0.95, 1e-6, 0.0, 0.9, false}, Case{0.01, 0.9, 1e-8, 0.1, 0.5, true},
                       Case{0.05, 0.99, 1e-8, 0.2, 0.0, false}}) {
    CAPTURE(c.lr);
    CAPTURE(c.alpha);
    CAPTURE(c.wd);
    CAPTURE(c.mu);
    CAPTURE(c.centered);
    Quad q;
    tg::RMSprop opt(q.named_parameters(), tg::RMSpropOptions(c.lr).alpha(c.alpha).eps(c.eps).weight_decay(c.wd).momentum(c.mu).centered(c.centered));
    CHECK_TRAJECTORY(run(opt, q, kSteps),
                     ref_rmsprop(Flat(c.lr, c.wd, c.lr, c.wd), kSteps, c.alpha, c.eps, c.mu, c.centered));
  }
}

TEST_CASE("float optimizers track the double reference to float precision") {
  QuadT<float> q;
  tg::Adam adam(q.named_parameters(), tg::AdamOptions(0.05).weight_decay(0.1));
  const Trajectory ours = run(adam, q, kSteps);
  const double d = max_diff(ours, ref_adam(Flat(0.05, 0.1, 0.05, 0.1), kSteps, 0.9, 0.999, 1e-8, false));
  MESSAGE("float Adam vs double reference: " << d);
  CHECK(d < 1e-5);
  QuadT<float> q2;
  tg::SGD sgd(q2.named_parameters(), tg::SGDOptions(0.05).momentum(0.9).nesterov(true));
  CHECK(max_diff(run(sgd, q2, kSteps), ref_sgd(Flat(0.05, 0, 0.05, 0), kSteps, 0.9, 0.0, true)) < 1e-5);
}

// ---- groups, frozen parameters, missing gradients ----

TEST_CASE("parameter groups: each group steps with its own lr and weight decay") {
  {
    Quad q;  // explicit groups: weight lr 0.05 wd 0.2 (the default), bias lr 0.2 no decay
    tg::AdamW opt({tg::ParamGroup({{"weight", q.w}}),
                    tg::ParamGroup({{"bias", q.b}}, 0.2, 0.0)},
                   tg::AdamWOptions(0.05).weight_decay(0.2));
    CHECK(opt.num_groups() == 2);
    CHECK(opt.lr(0) == 0.05);
    CHECK(opt.lr(1) == 0.2);
    CHECK(opt.weight_decay(0) == 0.2);
    CHECK(opt.weight_decay(1) == 0.0);
    CHECK_TRAJECTORY(run(opt, q, kSteps), ref_adam(Flat(0.05, 0.2, 0.2, 0.0), kSteps, 0.9, 0.999, 1e-8, true));
  }
  {
    Quad q;  // weight_decay_groups: matrices decay, vectors (biases) do not
    const auto groups = tg::weight_decay_groups(q.named_parameters());
    REQUIRE(groups.size() == 2);
    CHECK(groups[0].params.size() == 1);
    CHECK(groups[0].params[0].first == "weight");
    CHECK(groups[1].params[0].first == "bias");
    tg::SGD opt(groups, tg::SGDOptions(0.05).momentum(0.9).weight_decay(0.1));
    CHECK_TRAJECTORY(run(opt, q, kSteps), ref_sgd(Flat(0.05, 0.1, 0.05, 0.0), kSteps, 0.9, 0.0, false));
  }
  {
    Quad q;  // set_lr on one group changes only that group
    tg::SGD opt({tg::ParamGroup({{"weight", q.w}}), tg::ParamGroup({{"bias", q.b}})},
                 tg::SGDOptions(0.1));
    opt.set_lr(1, 0.0);
    run(opt, q, 3);
    CHECK(q.b.data<double>()[0] == 0.2);  // bias frozen by lr 0
    CHECK(q.w.data<double>()[0] != 0.5);
    opt.set_lr(0.3);
    CHECK(opt.lr(0) == 0.3);
    CHECK(opt.lr(1) == 0.3);
  }
  {
    // Tensors given without names are called "<group>.<index>".
    Quad q;
    tg::Adam opt({tg::ParamGroup(std::vector<Tensor>{q.w}), tg::ParamGroup(std::vector<Tensor>{q.b})});
    const auto named = opt.named_parameters();
    CHECK(named[0].first == "0.0");
    CHECK(named[1].first == "1.0");
    run(opt, q, 1);
    bool found = false;
    for (const auto& [name, t] : opt.state()) found |= name == "exp_avg.1.0";
    CHECK(found);
  }
}

TEST_CASE("frozen parameters and parameters without a gradient are skipped, step counts too") {
  Quad q;
  tg::Adam opt(q.named_parameters(), tg::AdamOptions(0.1));
  q.b.set_requires_grad(false);  // frozen: a constant in the loss
  run(opt, q, 3);
  CHECK(q.b.data<double>()[0] == 0.2);
  CHECK(q.b.data<double>()[2] == 0.9);
  std::map<std::string, double> steps;
  for (const auto& [name, t] : opt.state())
    if (name.rfind("step.", 0) == 0) steps[name] = t.item();
  CHECK(steps.size() == 1);
  CHECK(steps["step.weight"] == 3.0);

  // Unfrozen again: the bias starts its own count (PyTorch: per-parameter step).
  q.b.set_requires_grad(true);
  run(opt, q, 2);
  for (const auto& [name, t] : opt.state())
    if (name.rfind("step.", 0) == 0) steps[name] = t.item();
  CHECK(steps["step.weight"] == 5.0);
  CHECK(steps["step.bias"] == 2.0);
  CHECK(q.b.data<double>()[0] != 0.2);

  // zero_grad(true) releases the buffers: a parameter the next backward misses keeps its
  // value, moments and step count.
  const double b0 = q.b.data<double>()[0];
  opt.zero_grad(true);
  CHECK_FALSE(q.w.has_grad());
  tg::sum(tg::square(q.w)).backward();  // reaches the weight only
  opt.step();
  for (const auto& [name, t] : opt.state())
    if (name.rfind("step.", 0) == 0) steps[name] = t.item();
  CHECK(steps["step.weight"] == 6.0);
  CHECK(steps["step.bias"] == 2.0);
  CHECK(q.b.data<double>()[0] == b0);

  // zero_grad() keeps zero buffers: every parameter that has one steps, reached or not
  // (PyTorch's set_to_none=False).
  opt.zero_grad();
  q.loss().backward();
  opt.step();  // both: weight 7, bias 3
  opt.zero_grad();
  CHECK(q.b.has_grad());
  tg::sum(tg::square(q.w)).backward();
  opt.step();
  for (const auto& [name, t] : opt.state())
    if (name.rfind("step.", 0) == 0) steps[name] = t.item();
  CHECK(steps["step.weight"] == 8.0);
  CHECK(steps["step.bias"] == 4.0);
}

TEST_CASE("step: a parameter that backward never reached is left alone, even after its grad() was read") {
  Quad q;
  tg::SGD opt(q.named_parameters(), tg::SGDOptions(0.1).momentum(0.9).weight_decay(0.5));  // momentum and weight decay act on any gradient
  const xt::xarray<double> b0 = q.b.to_xarray<double>();
  tg::sum(tg::square(q.w)).backward();  // reaches the weight only
  (void)q.w.grad();
  (void)q.b.grad();  // reading must not give the bias a gradient
  CHECK_FALSE(q.b.has_grad());
  opt.step();
  CHECK(q.b.to_xarray<double>() == b0);  // no weight decay, no momentum
  for (const auto& [name, t] : opt.state()) CHECK_MESSAGE(name != "momentum_buffer.bias", name);
  CHECK_FALSE(q.b.has_grad());
  // A second step, a frozen-and-unfrozen Adam, the same.
  tg::Adam adam(q.named_parameters(), tg::AdamOptions(0.1).weight_decay(0.5));
  (void)q.b.grad();
  adam.step();
  CHECK(q.b.to_xarray<double>() == b0);
  CHECK(adam.state().size() == 3);  // step, exp_avg, exp_avg_sq of the weight only
  tg::clear_tape();
}

// ---- state ----

TEST_CASE("state: 5 steps, state(), load_state into a fresh optimizer, 5 more equal 10 straight") {
  using Make = std::function<std::unique_ptr<tg::Optimizer>(Quad&)>;
  const std::vector<std::pair<std::string, Make>> makers = {
      {"SGD", [](Quad& q) { return std::make_unique<tg::SGD>(q.named_parameters(), tg::SGDOptions(0.05).momentum(0.9).dampening(0.1).weight_decay(0.01)); }},
      {"Adam", [](Quad& q) { return std::make_unique<tg::Adam>(q.named_parameters(), tg::AdamOptions(0.05)); }},
      {"AdamW", [](Quad& q) { return std::make_unique<tg::AdamW>(q.named_parameters(), tg::AdamWOptions(0.05)); }},
      {"Adagrad", [](Quad& q) { return std::make_unique<tg::Adagrad>(q.named_parameters(), tg::AdagradOptions(0.1).lr_decay(0.01).initial_accumulator_value(0.1)); }},
      {"RMSprop", [](Quad& q) { return std::make_unique<tg::RMSprop>(q.named_parameters(), tg::RMSpropOptions(0.01).alpha(0.9).momentum(0.5).centered(true)); }},
  };
  for (const auto& [kind, make] : makers) {
    CAPTURE(kind);
    Quad straight;
    auto opt = make(straight);
    run(*opt, straight, 10);

    Quad first;
    auto opt1 = make(first);
    run(*opt1, first, 5);
    const tg::NamedTensors saved = opt1->state();

    Quad resumed;  // a fresh model with the first one's values, and a fresh optimizer
    for (const auto& [name, p] : first.named_parameters())
      std::memcpy(resumed.parameter(name).mutable_data<double>(), p.data<double>(), p.numel() * sizeof(double));
    auto opt2 = make(resumed);
    opt2->load_state(saved);
    run(*opt2, resumed, 5);
    CHECK(flat_params(resumed) == flat_params(straight));  // bit-identical
    CHECK(snapshot(*opt2) == snapshot(*opt));
  }
}

TEST_CASE("state: names follow PyTorch's state keys, keyed by parameter name") {
  Quad q;
  tg::Adam adam(q.named_parameters());
  CHECK(adam.state().empty());  // nothing before the first step
  run(adam, q, 2);
  std::vector<std::string> names;
  for (const auto& [name, t] : adam.state()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"step.weight", "exp_avg.weight", "exp_avg_sq.weight",
                                          "step.bias", "exp_avg.bias", "exp_avg_sq.bias"});
  CHECK(adam.state()[0].second.item() == 2.0);
  CHECK(adam.state()[1].second.shape() == tg::Shape{2, 3});

  Quad q2;
  tg::RMSprop rms(q2.named_parameters(), tg::RMSpropOptions(0.01).momentum(0.9).centered(true));
  run(rms, q2, 1);
  names.clear();
  for (const auto& [name, t] : rms.state()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"step.weight", "square_avg.weight", "momentum_buffer.weight",
                                          "grad_avg.weight", "step.bias", "square_avg.bias",
                                          "momentum_buffer.bias", "grad_avg.bias"});
  Quad q3;
  tg::SGD plain(q3.named_parameters(), tg::SGDOptions(0.1));
  run(plain, q3, 1);
  CHECK(plain.state().empty());  // plain SGD keeps nothing
}

TEST_CASE("load_state: bad names, shapes, partial state and step counts are rejected and change nothing") {
  Quad q;
  tg::Adam opt(q.named_parameters(), tg::AdamOptions(0.05));
  run(opt, q, 3);
  const auto good = opt.state();
  const auto before = snapshot(opt);

  auto expect_rejected = [&](tg::NamedTensors bad, const std::string& words) {
    CAPTURE(words);
    try {
      opt.load_state(bad);
      FAIL("load_state accepted a bad state");
    } catch (const std::invalid_argument& e) {
      MESSAGE(std::string(e.what()));
      CHECK(std::string(e.what()).find(words) != std::string::npos);
    }
    CHECK(snapshot(opt) == before);
  };
  auto with = [&](const std::string& name, tg::Tensor t) {
    auto s = good;
    for (auto& [n, v] : s)
      if (n == name) v = t;
    return s;
  };
  auto without = [&](const std::string& name) {
    auto s = good;
    s.erase(std::remove_if(s.begin(), s.end(), [&](const auto& e) { return e.first == name; }), s.end());
    return s;
  };
  auto plus = [&](const std::string& name, tg::Tensor t) {
    auto s = good;
    s.emplace_back(name, t);
    return s;
  };
  expect_rejected(plus("exp_avg.nothing", tg::Tensor::zeros({3}, tg::kFloat64)), "unexpected state tensor 'exp_avg.nothing'");
  expect_rejected(plus("momentum_buffer.weight", tg::Tensor::zeros({2, 3}, tg::kFloat64)), "unexpected state tensor");
  expect_rejected(with("exp_avg.weight", tg::Tensor::zeros({3, 2}, tg::kFloat64)), "shape [3, 2] but parameter 'weight' has shape [2, 3]");
  expect_rejected(without("exp_avg_sq.bias"), "missing 'exp_avg_sq.bias'");
  expect_rejected(without("step.weight"), "missing 'step.weight'");
  expect_rejected(with("step.bias", tg::Tensor::scalar(2.5, tg::kFloat64)), "whole number");
  expect_rejected(with("step.bias", tg::Tensor::scalar(-1.0, tg::kFloat64)), "whole number");
  expect_rejected(with("step.bias", tg::Tensor::zeros({2}, tg::kFloat64)), "one element");
  expect_rejected(plus("exp_avg.weight", tg::Tensor::zeros({2, 3}, tg::kFloat64)), "given twice");
  expect_rejected(with("exp_avg.bias", tg::Tensor()), "undefined");

  // An empty state is valid: every parameter starts fresh.
  opt.load_state({});
  CHECK(opt.state().empty());
  opt.load_state(good);
  CHECK(snapshot(opt) == before);
}

TEST_CASE("float state: step counts are exact, and a count float cannot hold is refused") {
  QuadT<float> q;
  tg::Adam opt(q.named_parameters());
  run(opt, q, 1);
  auto s = opt.state();
  for (auto& [name, t] : s)
    if (name.rfind("step.", 0) == 0) t = tg::Tensor::scalar(16777216.0f);  // 2^24
  opt.load_state(s);
  run(opt, q, 1);  // 2^24 + 1 has no float
  CHECK_THROWS_AS(opt.state(), std::overflow_error);
}

// ---- arguments ----

TEST_CASE("mixed dtypes: each parameter's state has its dtype, and load_state converts the other float dtype") {
  Tensor a = Tensor::param(xt::xarray<float>{1.0f, -2.0f});
  Tensor b = Tensor::param(xt::xarray<double>{3.0, -4.0});
  tg::Adam opt({a, b}, tg::AdamOptions(0.1));
  (tg::sum(tg::square(a)) + tg::sum(tg::square(a))).backward();  // ∂/∂a = 4a
  tg::sum(tg::square(b)).backward();                             // ∂/∂b = 2b
  opt.step();
  // Adam's first step moves each element by lr against its gradient's sign (m̂/(√v̂+ε) ≈ ±1).
  CHECK(a.data<float>()[0] == doctest::Approx(0.9).epsilon(1e-6));
  CHECK(a.data<float>()[1] == doctest::Approx(-1.9).epsilon(1e-6));
  CHECK(b.data<double>()[0] == doctest::Approx(2.9).epsilon(1e-9));
  CHECK(b.data<double>()[1] == doctest::Approx(-3.9).epsilon(1e-9));
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : opt.state()) state.emplace(name, t);
  REQUIRE(state.size() == 6);
  for (const char* kind : {"step.", "exp_avg.", "exp_avg_sq."}) {
    CHECK(state.at(std::string(kind) + "0.0").dtype() == tg::kFloat32);
    CHECK(state.at(std::string(kind) + "0.1").dtype() == tg::kFloat64);
  }
  CHECK(state.at("exp_avg.0.1").data<double>()[0] == doctest::Approx(0.1 * 6.0).epsilon(1e-12));

  // Every state tensor handed over in the other dtype comes back in its parameter's.
  tg::NamedTensors swapped;
  for (const auto& [name, t] : opt.state())
    swapped.emplace_back(name, t.to(t.dtype() == tg::kFloat32 ? tg::kFloat64 : tg::kFloat32));
  Tensor a2 = Tensor::param(xt::xarray<float>{0.9f, -1.9f});
  Tensor b2 = Tensor::param(xt::xarray<double>{2.9, -3.9});
  tg::Adam opt2({a2, b2}, tg::AdamOptions(0.1));
  opt2.load_state(swapped);
  for (const auto& [name, t] : opt2.state()) {
    CAPTURE(name);
    const Tensor& original = state.at(name);
    CHECK(t.dtype() == original.dtype());
    const auto got = t.to_xarray<double>(), want = original.to_xarray<double>();
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got.flat(i) == doctest::Approx(want.flat(i)).epsilon(1e-7));
  }
}

TEST_CASE("options: named setters chain with their type, getters read back, defaults are PyTorch's") {
  static_assert(std::is_same_v<decltype(tg::AdamWOptions().lr(1.0).eps(1.0)), tg::AdamWOptions&>);
  static_assert(std::is_same_v<decltype(tg::SGDOptions().weight_decay(1.0)), tg::SGDOptions&>);
  // The shared setters (lr, weight_decay) come before and after the optimizer's own.
  const auto sgd = tg::SGDOptions(0.1).weight_decay(1e-4).momentum(0.9).dampening(0.0).nesterov(true);
  CHECK(sgd.lr() == 0.1);
  CHECK(sgd.weight_decay() == 1e-4);
  CHECK(sgd.momentum() == 0.9);
  CHECK(sgd.nesterov());
  const auto adam = tg::AdamOptions(3e-3).betas({0.8, 0.98}).eps(1e-6).weight_decay(0.1);
  CHECK(adam.betas() == std::pair<double, double>{0.8, 0.98});
  CHECK(adam.eps() == 1e-6);
  CHECK(adam.weight_decay() == 0.1);
  // torch.optim defaults: Adam's weight decay is 0, AdamW's 1e-2; Adagrad and RMSprop take lr 1e-2.
  CHECK(tg::AdamOptions().weight_decay() == 0.0);
  CHECK(tg::AdamWOptions().weight_decay() == 1e-2);
  CHECK(tg::AdamWOptions().betas() == std::pair<double, double>{0.9, 0.999});
  CHECK(tg::AdagradOptions().lr() == 1e-2);
  CHECK(tg::AdagradOptions().eps() == 1e-10);
  CHECK(tg::RMSpropOptions().alpha() == 0.99);
  CHECK_FALSE(tg::RMSpropOptions().centered());
  // The optimizer keeps what it was given; AdamW hands its options to Adam unchanged.
  Tensor w = Tensor::param(xt::xarray<double>{1.0, 2.0});
  tg::AdamW adamw(std::vector<Tensor>{w}, tg::AdamWOptions(0.5).betas({0.7, 0.9}).eps(1e-3).weight_decay(0.25));
  CHECK(adamw.options().lr() == 0.5);
  CHECK(adamw.options().betas() == std::pair<double, double>{0.7, 0.9});
  CHECK(adamw.options().eps() == 1e-3);
  CHECK(adamw.options().weight_decay() == 0.25);
  tg::RMSprop rms(std::vector<Tensor>{w}, tg::RMSpropOptions(0.2).alpha(0.5).momentum(0.3).centered(true));
  CHECK(rms.options().alpha() == 0.5);
  CHECK(rms.options().momentum() == 0.3);
  CHECK(rms.options().centered());
}

TEST_CASE("constructors: invalid hyperparameters and parameters are rejected with a clear message") {
  Quad q;
  const auto params = q.named_parameters();
  auto message = [](auto&& make) -> std::string {
    try {
      make();
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(no exception)";
  };
  CHECK(message([&] { tg::SGD o(params, tg::SGDOptions(-0.1)); }) == "SGD: lr must be finite and >= 0, got -0.1");
  CHECK(message([&] { tg::SGD o(params, tg::SGDOptions(0.1).nesterov(true)); }).find("Nesterov momentum needs momentum > 0") != std::string::npos);
  CHECK(message([&] { tg::SGD o(params, tg::SGDOptions(0.1).momentum(0.9).dampening(0.5).nesterov(true)); }).find("dampening = 0") != std::string::npos);
  CHECK(message([&] { tg::Adam o(params, tg::AdamOptions(0.1).betas({1.0, 0.999})); }).find("Adam: beta1 must be in [0, 1)") == 0);
  CHECK(message([&] { tg::AdamW o(params, tg::AdamWOptions(0.1).betas({0.9, -0.1})); }).find("AdamW: beta2 must be in [0, 1)") == 0);
  CHECK(message([&] { tg::Adam o(params, tg::AdamOptions(0.1).eps(-1.0)); }).find("eps") != std::string::npos);
  CHECK(message([&] { tg::Adam o(params, tg::AdamOptions(0.1).weight_decay(-0.1)); }).find("weight_decay") != std::string::npos);
  CHECK(message([&] { tg::Adagrad o(params, tg::AdagradOptions(0.1).lr_decay(-1.0)); }).find("lr_decay") != std::string::npos);
  CHECK(message([&] { tg::RMSprop o(params, tg::RMSpropOptions(0.1).alpha(1.5)); }).find("alpha must be in [0, 1]") != std::string::npos);
  CHECK(message([&] { tg::SGD o(tg::NamedTensors{}); }) == "SGD: got no parameters to optimize");
  CHECK(message([&] { tg::SGD o({tg::ParamGroup(params), tg::ParamGroup({{"again", q.w}})}); })
            .find("same tensor as an earlier parameter") != std::string::npos);
  CHECK(message([&] { tg::SGD o(tg::NamedTensors{{"w", q.w}, {"w", q.b}}); })
            .find("two parameters are called 'w'") != std::string::npos);
  CHECK(message([&] { tg::SGD o(tg::NamedTensors{{"sq", tg::square(q.w)}}); })
            .find("'sq' is not a leaf") != std::string::npos);
  tg::clear_tape();
  CHECK(message([&] { tg::SGD o(tg::NamedTensors{{"u", tg::Tensor()}}); }).find("undefined") != std::string::npos);

  tg::SGD ok(params, tg::SGDOptions(0.1));
  CHECK_THROWS_AS(ok.set_lr(-1.0), std::invalid_argument);
  CHECK_THROWS_AS(ok.set_lr(std::nan("")), std::invalid_argument);
  CHECK_THROWS_AS(ok.set_lr(1, 0.1), std::out_of_range);
  CHECK_THROWS_AS(ok.lr(3), std::out_of_range);
  CHECK_THROWS_AS(ok.set_weight_decay(0, -0.5), std::invalid_argument);
  CHECK(ok.lr() == 0.1);
}

// ---- speed ----

TEST_CASE("step: no heap allocation after the first step, for every optimizer") {
  tg::manual_seed(3);
  tg::Tensor w = tg::Tensor::param(tg::randn<float>({64, 32}));
  tg::Tensor b = tg::Tensor::param(tg::randn<float>({32}));
  const tg::NamedTensors params = {{"w", w}, {"b", b}};
  std::vector<std::unique_ptr<tg::Optimizer>> opts;
  opts.push_back(std::make_unique<tg::SGD>(params, tg::SGDOptions(0.01).momentum(0.9).weight_decay(0.01).nesterov(true)));
  opts.push_back(std::make_unique<tg::Adam>(params, tg::AdamOptions(0.01).weight_decay(0.01)));
  opts.push_back(std::make_unique<tg::AdamW>(params));
  opts.push_back(std::make_unique<tg::Adagrad>(params, tg::AdagradOptions(0.01).lr_decay(0.1)));
  opts.push_back(std::make_unique<tg::RMSprop>(params, tg::RMSpropOptions(0.01).momentum(0.9).centered(true)));
  for (auto& opt : opts) {
    CAPTURE(opt->name());
    tg::CosineAnnealingLR sched(*opt, 100);
    opt->zero_grad();
    tg::sum(tg::square(tg::matmul(tg::Tensor::constant(xt::ones<float>({4, 64})), w) + b)).backward();
    opt->step();  // allocates the state
    const long before = g_allocations.load();
    for (int k = 0; k < 3; ++k) {
      tg::clip_grad_norm(params, 1.0);
      opt->step();
      sched.step();
      opt->zero_grad();
    }
    CHECK(g_allocations.load() - before == 0);
  }
}
