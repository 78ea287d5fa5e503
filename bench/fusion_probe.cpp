// tapegrad_fusion_probe: does one pass per chain of elementwise ops pay, and does it make the
// second thread pay? The forward gate math of one S LSTM step ([32, 128], issue 20 step 4's
// question), run two ways on the library's pool, alternating, at 1 and 2 threads:
//   per op: one pass per op over the whole [32, 128], each cut for the pool as the ops cut
//           themselves today (detail::Cost: transcendental from 4,096 elements);
//   fused:  one pass computing every op and writing what a backward reads (i, f, g, o, c',
//           tanh c', h), cut once for the pool, in inner passes of --chunk elements.
// Prints the min and median microseconds per cell step of each, and fused / per op.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <vector>

#include <CLI/CLI.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#include <tapegrad/autograd/detail/thread_pool.hpp>
#include <tapegrad/autograd/threads.hpp>

namespace {

constexpr std::size_t kN = 32 * 128;  // one gate's [B, H] at S
std::size_t chunk = 4096;  // fused: elements per inner pass (--chunk)

auto flat(float* p, std::size_t len) { return xt::adapt(p, len, xt::no_ownership(), std::array<std::size_t, 1>{len}); }

struct Cell {
  // inputs: the four gates' pre-activations and c; outputs: what the backward reads
  std::vector<float> a, b, c, d, c_prev, i, f, g, o, fc, ig, c_next, tanh_c, h;
  Cell() {
    for (auto* v : {&a, &b, &c, &d, &c_prev, &i, &f, &g, &o, &fc, &ig, &c_next, &tanh_c, &h}) v->assign(kN, 0.1f);
    for (std::size_t k = 0; k < kN; ++k) a[k] = float(k % 17) / 17.0f - 0.5f, b[k] = 2 * a[k], c[k] = -a[k], d[k] = 3 * a[k];
  }
};

auto sigmoid = [](auto&& v) { return 1.0f / (1.0f + xt::exp(-v)); };

// out = f(in) over [0, kN), cut for the pool like a unary op of this cost.
template <class F>
void unary_pass(const std::vector<float>& in, std::vector<float>& out, std::size_t cost, F f) {
  tg::detail::parallel_range(kN, [&](std::size_t s, std::size_t e) {
    xt::noalias(flat(out.data() + s, e - s)) = f(flat(const_cast<float*>(in.data()) + s, e - s));
  }, cost);
}

// out = x op y, one cheap pass.
template <class Op>
void binary_pass(const std::vector<float>& x, const std::vector<float>& y, std::vector<float>& out, Op op) {
  tg::detail::parallel_range(kN, [&](std::size_t s, std::size_t e) {
    for (std::size_t k = s; k < e; ++k) out[k] = op(x[k], y[k]);
  });
}

void per_op(Cell& m) {
  const auto tanh = [](auto&& v) { return xt::tanh(v); };
  unary_pass(m.a, m.i, 4, sigmoid);
  unary_pass(m.b, m.f, 4, sigmoid);
  unary_pass(m.c, m.g, 4, tanh);
  unary_pass(m.d, m.o, 4, sigmoid);
  binary_pass(m.f, m.c_prev, m.fc, [](float x, float y) { return x * y; });
  binary_pass(m.i, m.g, m.ig, [](float x, float y) { return x * y; });
  binary_pass(m.fc, m.ig, m.c_next, [](float x, float y) { return x + y; });
  unary_pass(m.c_next, m.tanh_c, 4, tanh);
  binary_pass(m.o, m.tanh_c, m.h, [](float x, float y) { return x * y; });
}

void fused(Cell& m) {
  tg::detail::parallel_range(kN, [&](std::size_t s0, std::size_t e0) {
    for (std::size_t s = s0; s < e0; s += chunk) {
      const std::size_t len = std::min(e0, s + chunk) - s;
      auto i = flat(m.i.data() + s, len), f = flat(m.f.data() + s, len), g = flat(m.g.data() + s, len),
           o = flat(m.o.data() + s, len), c_next = flat(m.c_next.data() + s, len), tanh_c = flat(m.tanh_c.data() + s, len);
      xt::noalias(i) = sigmoid(flat(m.a.data() + s, len));
      xt::noalias(f) = sigmoid(flat(m.b.data() + s, len));
      xt::noalias(g) = xt::tanh(flat(m.c.data() + s, len));
      xt::noalias(o) = sigmoid(flat(m.d.data() + s, len));
      xt::noalias(c_next) = f * flat(m.c_prev.data() + s, len) + i * g;  // c' = f c + i g
      xt::noalias(tanh_c) = xt::tanh(c_next);
      xt::noalias(flat(m.h.data() + s, len)) = o * tanh_c;  // h' = o tanh c'
    }
  }, 16);  // the whole chain's work: cut whenever there is a second thread
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5, reps = 20000;
  CLI::App app{"tapegrad_fusion_probe: an LSTM step's gate math per op vs fused, 1 and 2 threads"};
  app.add_option("--rounds", rounds, "alternating rounds")->check(CLI::Range(1, 1000));
  app.add_option("--reps", reps, "cell steps per timing")->check(CLI::Range(1, 10000000));
  app.add_option("--chunk", chunk, "fused: elements per inner pass (512: 12 arrays of 2 KiB, in L1)")
      ->check(CLI::Range(std::size_t(16), kN));
  CLI11_PARSE(app, argc, argv);
  Cell cell;
  for (int threads : {1, 2}) {
    tg::set_num_threads(threads);
    std::vector<double> times[2];
    for (int r = 0; r < rounds; ++r)
      for (int variant = 0; variant < 2; ++variant) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int k = 0; k < reps; ++k) variant == 0 ? per_op(cell) : fused(cell);
        times[variant].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps * 1e6);
      }
    for (auto& t : times) std::sort(t.begin(), t.end());
    const double per_op_median = times[0][times[0].size() / 2], fused_median = times[1][times[1].size() / 2];
    std::printf("threads %d (pool: %d): per op %.2f us (min %.2f), fused %.2f us (min %.2f), fused / per op %.2f\n",
                threads, tg::get_num_threads(), per_op_median, times[0][0], fused_median, times[1][0],
                fused_median / per_op_median);
  }
}
