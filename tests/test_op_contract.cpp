// The op contract the tape enforces (Note [versions] in tensor.hpp, Note [op contract] in
// detail/node.hpp): in-place writes after an op saved a value are refused at backward, the
// engine hands dy on, and a backward may run a nested forward and backward.
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include <tapegrad/autograd/detail/op_helpers.hpp>  // a test op written as library ops are

#include "op_checks.hpp"
#include "temp_files.hpp"
#include "test_helpers.hpp"

using tg::Tensor;

using tgtest::check_error;

// ===== versions =====

TEST_CASE("versions: mutable_data() counts a write, data() does not; a view shares its base's count") {
  Tensor p = Tensor::param(xt::xarray<float>{{1.f, 2.f}, {3.f, 4.f}});
  CHECK(p.version() == 0);
  (void)p.data<float>();
  CHECK(p.version() == 0);
  p.mutable_data<float>()[0] = 5.f;
  CHECK(p.version() == 1);
  const Tensor row = tg::slice(p, 0, 1, 1);  // a view of p's second row (Note [views])
  const Tensor flat = tg::reshape(p, {4});   // a view of all of p
  CHECK(row.version() == 1);
  Tensor(flat).mutable_data<float>()[3] = 7.f;  // a write through one view ...
  CHECK(p.version() == 2);               // ... counts for the base and every other view
  CHECK(row.version() == 2);
  CHECK(row.value<float>()(0, 1) == 7.f);
  CHECK(tg::detach(p).version() == 0);  // a copy has storage of its own
}

TEST_CASE("versions: optimizer steps and checkpoint loads count as writes") {
  tg::Linear lin(3, 2);
  tg::SGD sgd(lin.parameters(), tg::SGDOptions(0.1));
  const Tensor x = Tensor::constant(xt::ones<float>({4, 3}));
  tg::sum(lin(x)).backward();
  const auto before = lin.weight.version();
  sgd.step();
  CHECK(lin.weight.version() == before + 1);
  tgtest::TempDir dir;
  tg::save_checkpoint(dir.file("lin.safetensors"), lin);
  tg::load_checkpoint(dir.file("lin.safetensors"), lin);
  CHECK(lin.weight.version() == before + 2);
  CHECK(lin.bias.version() == before + 2);
}

TEST_CASE("versions: backward refuses a saved input written in place, naming the op, the tensor and its parameter") {
  // Before the check existed this backward ran and gave the gradient at the new weight.
  tg::Linear lin(3, 2);
  const Tensor x = Tensor::param(xt::ones<float>({4, 3}));
  Tensor loss = tg::sum(lin(x));   // linear saved the weight for dx
  lin.weight.mutable_data<float>()[0] += 1.f;  // an in-place write after the save
  check_error<std::logic_error>([&] { loss.backward(); },
                                {"backward", "'linear'", "input 1", "a leaf of shape [2, 3]", "parameter 'weight'",
                                 "written in place", "version 1", "saved at version 0"});
  tgtest::check_tape_works();
}

namespace {
// A user's module with a registered child: its parameters are "fc.weight" and "fc.bias".
struct Net : tg::Module {
  tg::Linear fc{3, 2};
  Net() { register_module("fc", fc); }
};
}  // namespace

TEST_CASE("versions: a parameter of a nested module is named by its dotted path") {
  Net net;
  CHECK(net.fc.weight.name() == "fc.weight");
  const Tensor x = Tensor::param(xt::ones<float>({4, 3}));
  Tensor loss = tg::sum(net.fc(x));
  net.parameter("fc.weight").mutable_data<float>()[0] = 0.5f;
  check_error<std::logic_error>([&] { loss.backward(); }, {"parameter 'fc.weight'", "[2, 3]"});
  tg::LSTM lstm(2, 3);  // Recurrent names its cells' parameters PyTorch's way
  CHECK(lstm.parameter("weight_hh_l0").name() == "weight_hh_l0");
  tg::clear_tape();
}

TEST_CASE("versions: a saved output written in place is refused (tanh reads y)") {
  const tg::Tensor x = tgtest::param({3});
  tg::Tensor y = tg::tanh(x);
  tg::Tensor loss = tg::sum(y * 2.0);
  y.mutable_data<double>()[1] = 0.0;
  check_error<std::logic_error>([&] { loss.backward(); }, {"'tanh'", "output", "[3]", "'tanh'"});
  tg::clear_tape();
}

TEST_CASE("versions: a write into the base of a saved view is refused") {
  tg::Tensor p = tgtest::param({4, 3});
  const tg::Tensor c = tgtest::param({2, 3});
  tg::Tensor loss = tg::sum(tg::slice(p, 0, 0, 2) * c);  // mul saved the slice, a view of p, for dc
  p.mutable_data<double>()[11] = 1.0;                            // a row outside the slice: still p's storage
  check_error<std::logic_error>([&] { loss.backward(); }, {"'mul'", "input 0", "[2, 3]", "'slice'"});
  tg::clear_tape();
}

TEST_CASE("versions: values no backward reads may be written (PyTorch's rule)") {
  // tanh reads y, not x; add reads neither input; a constant operand of mul is saved only for
  // the other side's gradient, which it does not take here.
  tg::Tensor x = tgtest::param({3});
  tg::Tensor y = tg::tanh(x);
  tg::Tensor z = tg::add(y, x);
  tg::Tensor loss = tg::sum(z);
  x.mutable_data<double>()[0] = 2.0;
  loss.backward();
  CHECK(x.grad().defined());
  tg::Tensor w = tgtest::param({3});
  tg::Tensor k = tg::Tensor::constant(xt::xarray<double>{1.0, 2.0, 3.0});
  tg::Tensor l2 = tg::sum(tg::mul(k, w));  // dw reads k: k is saved; w is not (k takes no gradient)
  w.mutable_data<double>()[0] = 9.0;
  l2.backward();
  CHECK(w.grad().value<double>()(2) == doctest::Approx(3.0));
}

TEST_CASE("versions: the normal loop (forward, backward, step, next forward) is unaffected") {
  tg::manual_seed(3);
  tg::LSTM lstm(4, 8);
  tg::Linear head(8, 5);
  std::vector<Tensor> params = lstm.parameters();
  for (const auto& p : head.parameters()) params.push_back(p);
  tg::Adam adam(params, tg::AdamOptions(0.01));
  const Tensor x = Tensor::constant(tg::randn<float>({6, 2, 4}));  // [T, B, I]
  const tg::IdTensor y = xt::xarray<std::int64_t>(xt::zeros<std::int64_t>({12}));
  float first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    Tensor logits = head(tg::reshape(lstm(x).output, {12, 8}));
    Tensor loss = tg::cross_entropy(logits, y);
    CHECK_NOTHROW(loss.backward());
    adam.step();
    adam.zero_grad();
    (step == 0 ? first : last) = loss.item();
  }
  CHECK(last < first);  // it trains
}

// ===== the engine hands dy on =====

TEST_CASE("op contract: dy handed on to several inputs, to one input twice, and past a retained gradient") {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{1.0, 2.0});
  tg::Tensor h = x * 3.0;  // non-leaf
  h.retain_grad();
  tg::Tensor s = tg::add(h, h);  // the same input twice: the first copies dy, the second adds
  tg::Tensor r = tg::reshape(s, {2, 1});
  tg::sum(r * r).backward();  // d/ds = 2 s = 4 h = 12 x
  CHECK(h.grad().value<double>()(0) == doctest::Approx(24.0));  // dL/dh = 2 * 12 x
  CHECK(h.grad().value<double>()(1) == doctest::Approx(48.0));
  CHECK(x.grad().value<double>()(0) == doctest::Approx(72.0));  // dL/dx = 3 dL/dh
  CHECK(x.grad().value<double>()(1) == doctest::Approx(144.0));
}

TEST_CASE("op contract: a node owns its inputs; a graph whose handles were all dropped still differentiates") {
  tg::Tensor w = tgtest::param({3, 2});
  tg::Tensor loss;
  {
    const tg::Tensor x = tgtest::param({4, 2});
    const tg::Tensor b = tgtest::param({3});
    loss = tg::sum(tg::tanh(tg::linear(x, w, b)) * tg::sigmoid(tg::linear(x, w)));
  }  // x, b and every intermediate handle are gone: only the nodes hold them
  loss.backward();
  CHECK(w.grad().defined());
}

// ===== re-entrant backward =====

namespace {

// A new leaf that requires grad, with t's value.
tg::Tensor leaf_copy(const tg::TensorImpl& t) {
  return tg::Tensor::param(xt::xarray<double>(xt::adapt(t.value.data<double>(), tg::numel(t.shape), xt::no_ownership(), t.shape)));
}

// y = tanh(x W^T), computed without recording and recomputed in its own backward with a
// nested forward and backward: the shape of checkpointing. Written as library ops are.
tg::Tensor recomputed_tanh_linear(const tg::Tensor& x, const tg::Tensor& w) {
  tg::Tensor y;
  {
    tg::NoGradGuard no_grad;
    y = tg::tanh(tg::linear(x, w));
  }
  auto out = tg::detail::new_output<double>("recomputed_tanh_linear", y.shape());
  std::copy_n(y.data<double>(), y.numel(), out->value.data<double>());
  using tg::detail::input_bit;
  return tg::detail::finish<double>(
      "recomputed_tanh_linear", out, {tg::detail::impl_ptr(x), tg::detail::impl_ptr(w)}, {input_bit(0) | input_bit(1)},
      [](const tg::detail::Grad<double>& g) {
        // Rebuild the graph from detached copies (leaves of a nested graph), then backward it.
        tg::Tensor xd = leaf_copy(g.in(0)), wd = leaf_copy(g.in(1));
        tg::Tensor yd = tg::tanh(tg::linear(xd, wd));
        CHECK(tg::tape_stats().nodes == 2);  // the nested graph is on a tape of its own
        xt::xarray<double> seed = xt::adapt(g.dy(), tg::numel(g.out().shape), xt::no_ownership(), g.out().shape);
        yd.backward(tg::Tensor::constant(seed));
        for (std::size_t k = 0; k < 2; ++k) {
          if (!g.needs(k)) continue;
          const tg::Tensor d = (k == 0 ? xd : wd).grad();
          double* acc = g.grad_acc(k);
          for (std::size_t i = 0; i < d.numel(); ++i) acc[i] += d.data<double>()[i];
        }
      });
}

}  // namespace

TEST_CASE("op contract: a backward may run a nested forward and backward (re-entrant), gradcheck") {
  tg::manual_seed(11);
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) {
    // The outer graph reads w too, and its linear stages w's gradient (Note [deferred weight
    // gradients]) while the nested backward adds into it.
    const tg::Tensor h = recomputed_tanh_linear(tg::linear(in[0], in[1]), in[1]);  // [4, 3]
    return tg::sigmoid(tg::linear(h, in[2])) * tg::linear(in[0], in[1]);
  };
  CHECK_GRADCHECK(f, (std::vector<Tensor>{tgtest::param({4, 3}), tgtest::param({3, 3}), tgtest::param({3, 3})}));
  CHECK(tg::tape_stats().nodes == 0);
}

TEST_CASE("op contract: a nested backward leaves the outer graph intact under retain_graph") {
  tg::Tensor x = tgtest::param({2, 2});
  tg::Tensor w = tgtest::param({2, 2});
  tg::Tensor loss = tg::sum(recomputed_tanh_linear(x, w) * 2.0);
  loss.backward(/*retain_graph=*/true);
  const xt::xarray<double> once = w.grad().to_xarray<double>();
  loss.backward();  // the same graph again: the gradients double
  tgtest::check_close(w.grad().value<double>(), xt::xarray<double>(2.0 * once));
  CHECK(tg::tape_stats().nodes == 0);
}

// ===== saved values only (Note [op contract]) and unread values (Note [unread values]) =====

namespace {

// y = 2x whose backward reads x although it declared nothing saved: a broken op.
tg::Tensor reads_unsaved(const tg::Tensor& x) {
  auto out = tg::detail::new_output<double>("reads_unsaved", x.shape());
  for (std::size_t i = 0; i < x.numel(); ++i) out->value.data<double>()[i] = 2 * x.data<double>()[i];
  return tg::detail::finish<double>("reads_unsaved", out, {tg::detail::impl_ptr(x)}, {0},
                                    [](const tg::detail::Grad<double>& g) {
    const double* x = g.x(0);  // not saved: refused
    g.grad_acc(0)[0] += x[0];
  });
}

std::size_t recorded() { return tg::tape_stats().recorded_bytes; }

}  // namespace

TEST_CASE("op contract: a backward may read only the values its op declared saved") {
  tg::Tensor x = tgtest::param({3});
  tg::Tensor y = reads_unsaved(x);
  check_error<std::logic_error>([&] { tg::sum(y).backward(); }, {"reads_unsaved", "input 0", "did not declare saved"});
  tg::clear_tape();
}

TEST_CASE("unread values: a recorded value no backward reads goes back to the pool when its last handle dies") {
  tg::clear_tape();
  const std::size_t n = 4 * 3 * sizeof(double);
  tg::Tensor x = tgtest::param({4, 3});
  tg::Tensor a = x * 2.0;     // mul_scalar saves nothing, and tanh saves its output, not a
  tg::Tensor b = tg::tanh(a);
  CHECK(recorded() == 2 * n);
  tg::Tensor a2 = a;
  a = tg::Tensor();           // another handle still reads it
  CHECK(recorded() == 2 * n);
  a2 = b;                     // the last handle is overwritten: a's value is released
  CHECK(recorded() == n);
  a2 = tg::Tensor();
  b = tg::Tensor();           // tanh's backward reads b (its output): kept
  CHECK(recorded() == n);
  tg::Tensor c = x * 3.0;
  tg::Tensor d = c * x;       // mul saves both inputs: c is kept
  tg::Tensor e = c + 1.0;
  c = tg::Tensor();
  CHECK(recorded() == 4 * n);
  e = tg::Tensor();           // add_scalar's output: nobody reads it
  CHECK(recorded() == 3 * n);
  tg::Tensor f = x * 4.0;
  tg::Tensor view = tg::reshape(f, {12});  // a view borrows f's memory
  f = tg::Tensor();
  CHECK(view.data<double>()[0] == doctest::Approx(4 * x.data<double>()[0]));
  // d/dx of sum(tanh(2x)) + sum(3x * x) + sum(view) = 2 (1 - tanh^2(2x)) + 6x + 4
  tg::Tensor loss = tg::sum(tg::tanh(x * 2.0)) + tg::sum(d) + tg::sum(view);
  loss.backward();
  const xt::xarray<double> xv = x.to_xarray<double>();
  const xt::xarray<double> t = xt::tanh(2.0 * xv);
  tgtest::check_close(x.grad().value<double>(), xt::xarray<double>(2.0 * (1.0 - t * t) + 6.0 * xv + 4.0));
}

TEST_CASE("unread values: a cell's step keeps what its backward reads, releases the rest, and differentiates the same") {
  tg::manual_seed(3);
  tg::LSTMCell cell(5, 4);
  cell.to(tg::kFloat64);
  const tg::Tensor x = tg::Tensor::constant(tg::randn<double>({6, 2, 5}));
  tg::clear_tape();
  std::vector<Tensor> s = cell.initial_state(2);
  for (std::size_t t = 0; t < 6; ++t) s = cell(tg::reshape(tg::slice(x, 0, t, 1), {2, 5}), s);
  // per step the gates i, f, g, o, tanh(c), c and h stay ([2, 4] each: 7 * 64 bytes); the
  // GEMM's [2, 16] output, its four slices and f*c, i*g are released (their handles died)
  CHECK(recorded() == 6 * 7 * 2 * 4 * sizeof(double));
  tg::sum(s[0] * s[1]).backward();
  const auto got = cell.weight_hh.grad().to_xarray<double>();
  cell.zero_grad();
  {  // the same steps with every handle kept until backward: nothing released
    std::vector<std::vector<Tensor>> all{cell.initial_state(2)};
    for (std::size_t t = 0; t < 6; ++t) all.push_back(cell(tg::reshape(tg::slice(x, 0, t, 1), {2, 5}), all.back()));
    tg::sum(all.back()[0] * all.back()[1]).backward();
  }
  CHECK(cell.weight_hh.grad().value<double>() == got);  // bit for bit
}

TEST_CASE("op contract: an input that took no gradient when recorded takes none from that graph (unfrozen before backward)") {
  // What an op saves is chosen by requires_grad when it is recorded: linear(a, w) saves a only
  // if w requires grad. A w unfrozen before backward() gets no gradient from this graph (PyTorch
  // too), instead of a backward reading a value nobody saved (a's, released: Note [unread values]).
  tg::Tensor w = tgtest::param({3, 2}), v = tgtest::param({4, 3}), u = tgtest::param({4, 3});
  tg::Tensor x = tgtest::param({4, 2}), z = tgtest::param({4, 3});
  for (tg::Tensor* p : {&w, &v, &u}) p->set_requires_grad(false);
  tg::Tensor loss = tg::sum(tg::linear(x * 1.0, w)) + tg::sum((z * 1.0) * v) + tg::sum((z * 2.0) / u);
  for (tg::Tensor* p : {&w, &v, &u}) p->set_requires_grad(true);
  loss.backward();
  CHECK(!w.has_grad());
  CHECK(!v.has_grad());
  CHECK(!u.has_grad());
  // the inputs that did require grad get theirs: dx = 1 W (each row the column sums of w),
  // dz = v + 2 / u
  const xt::xarray<double> wv = w.to_xarray<double>(), vv = v.to_xarray<double>(), uv = u.to_xarray<double>();
  const xt::xarray<double> col = xt::sum(wv, {0});
  tgtest::check_close(x.grad().value<double>(), xt::xarray<double>(xt::ones<double>({4, 1}) * xt::view(col, xt::newaxis(), xt::all())));
  tgtest::check_close(z.grad().value<double>(), xt::xarray<double>(vv + 2.0 / uv));
}
