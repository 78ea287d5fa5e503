// The one thread pool (Note [one pool]): every task runs once, errors come back to the caller,
// nested and concurrent callers stay correct; the elementwise ops it splits give the same bits
// at two threads as at one, the GEMMs the same product, and both pass the float64 check.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/thread_pool.hpp>

#include "test_helpers.hpp"

using tgtest::counting;
using tgtest::with_threads;

namespace {

// Runs make() at one thread and at two and checks that every tensor it returns holds the same
// bits both times.
template <class Make>
void check_same_bits_at_one_and_two_threads(Make make) {
  auto run = [&](int threads) {
    std::vector<std::vector<float>> out;
    with_threads(threads, [&] {
      for (const tg::Tensor& t : make()) {
        const auto a = t.to_xarray<float>();
        out.emplace_back(a.begin(), a.end());
      }
    });
    return out;
  };
  const auto one = run(1), two = run(2);
  REQUIRE(one.size() == two.size());
  for (std::size_t k = 0; k < one.size(); ++k) CHECK_MESSAGE(one[k] == two[k], "tensor " << k);
}

}  // namespace

TEST_CASE("thread pool: every task runs exactly once, on more than one thread when there are two") {
  with_threads(2, [] {
    for (std::size_t tasks : {0u, 1u, 2u, 3u, 17u, 1000u}) {
      std::vector<std::atomic<int>> runs(tasks);
      tg::detail::parallel_for(tasks, [&](std::size_t i) { runs[i].fetch_add(1); });
      for (std::size_t i = 0; i < tasks; ++i) CHECK_MESSAGE(runs[i].load() == 1, "task " << i << " of " << tasks);
    }
    if (tg::get_num_threads() < 2) {
      MESSAGE("one core: the pool has no worker, so this only tested the serial path");
      return;
    }
    // Tasks long enough that the worker, once started and warm, claims some; a new worker
    // warms OpenBLAS first (~7 ms), so give it up to 100 jobs of 4 x 5 ms.
    std::mutex m;
    std::set<std::thread::id> ids;
    for (int job = 0; job < 100 && ids.size() < 2; ++job)
      tg::detail::parallel_for(4, [&](std::size_t) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        std::lock_guard<std::mutex> lock(m);
        ids.insert(std::this_thread::get_id());
      });
    CHECK(ids.size() == 2);
  });
}

TEST_CASE("thread pool: a task's exception reaches the caller after every task has run") {
  for (int threads : {1, 2}) {  // the serial path and the pool
    CAPTURE(threads);
    with_threads(threads, [] {
      std::atomic<int> ran{0};
      CHECK_THROWS_WITH_AS(tg::detail::parallel_for(6,
                                                    [&](std::size_t i) {
                                                      ran.fetch_add(1);
                                                      if (i == 3) throw std::runtime_error("task 3 failed");
                                                    }),
                           "task 3 failed", std::runtime_error);
      CHECK(ran.load() == 6);
      std::atomic<int> after{0};  // the pool still works
      tg::detail::parallel_for(4, [&](std::size_t) { after.fetch_add(1); });
      CHECK(after.load() == 4);
    });
  }
}

TEST_CASE("thread pool: nested and concurrent callers run every task once") {
  with_threads(2, [] {
    std::vector<std::atomic<int>> cells(4 * 5);
    tg::detail::parallel_for(4, [&](std::size_t i) {  // a task's own parallel_for runs serially
      tg::detail::parallel_for(5, [&](std::size_t j) { cells[i * 5 + j].fetch_add(1); });
    });
    for (auto& c : cells) CHECK(c.load() == 1);

    // Two threads of the user's, each splitting work: one has the pool, the other runs serially.
    std::vector<std::atomic<int>> a(500), b(500);
    auto user = [](std::vector<std::atomic<int>>& v) {
      for (int round = 0; round < 20; ++round)
        tg::detail::parallel_for(v.size(), [&](std::size_t i) { v[i].fetch_add(1); });
    };
    std::thread t1(user, std::ref(a)), t2(user, std::ref(b));
    t1.join();
    t2.join();
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].load() == 20);
      CHECK(b[i].load() == 20);
    }
  });
}

TEST_CASE("thread pool: resizing between calls keeps it correct") {
  for (int n : {2, 1, 2, 2, 1}) {
    tg::set_num_threads(n);
    std::atomic<int> sum{0};
    tg::detail::parallel_for(100, [&](std::size_t i) { sum.fetch_add(int(i)); });
    CHECK(sum.load() == 4950);
  }
  tg::set_num_threads(1);
}

TEST_CASE_TEMPLATE("thread pool: a GEMM cut into pieces equals the one-thread product", T, float, double) {
  struct Case {
    bool ta, tb;
    std::size_t M, N, K, lda_pad, ldb_pad, ldc_pad;
    T beta;
  };
  const std::vector<Case> cases = {
      {false, true, 32, 512, 128, 0, 2, 0, T(0)},    // a recurrent step's h W^T: cut along N, padded B
      {false, false, 32, 128, 512, 3, 0, 0, T(1)},   // its backward dy W, accumulating, padded A
      {true, false, 512, 128, 2048, 0, 0, 5, T(1)},  // a deferred weight gradient dG^T X: cut along M
      {true, true, 300, 70, 90, 1, 4, 0, T(0.5)},    // both transposed and padded, sides not multiples of 16
      {false, false, 1000, 17, 64, 0, 3, 0, T(0)},   // N below one piece: cut along M, padded B
      {false, false, 8, 513, 64, 0, 0, 0, T(0)},     // 513 columns: two pieces, not 256 + 256 + 1
  };
  for (const Case& c : cases) {
    const std::size_t a_rows = c.ta ? c.K : c.M, a_cols = (c.ta ? c.M : c.K) + c.lda_pad;
    const std::size_t b_rows = c.tb ? c.N : c.K, b_cols = (c.tb ? c.K : c.N) + c.ldb_pad;
    const std::size_t ldc = c.N + c.ldc_pad;
    std::vector<float> af = counting(a_rows * a_cols, 1.0f), bf = counting(b_rows * b_cols, 0.5f),
                       cf = counting(c.M * ldc, 2.0f);
    std::vector<T> a(af.begin(), af.end()), b(bf.begin(), bf.end()), c0(cf.begin(), cf.end());
    auto product = [&](int threads) {
      std::vector<T> out = c0;
      with_threads(threads, [&] {
        tg::detail::gemm(c.ta, c.tb, c.M, c.N, c.K, T(1), a.data(), a_cols, b.data(), b_cols, c.beta, out.data(),
                         ldc);
      });
      return out;
    };
    const std::vector<T> one = product(1), two = product(2);
    CAPTURE(c.M);
    CAPTURE(c.N);
    CAPTURE(c.K);
    CHECK(product(2) == two);  // the same thread count gives the same bits
    // Against one thread: OpenBLAS may block K differently for a narrower piece, so the float
    // sums can round differently (double ones have matched bit for bit here); padding
    // columns stay untouched either way.
    REQUIRE(one.size() == two.size());
    for (std::size_t k = 0; k < one.size(); ++k)
      if (std::abs(double(one[k]) - double(two[k])) > 1e-5 * (1 + std::abs(double(one[k])))) {
        FAIL_CHECK("entry " << k << ": " << one[k] << " at one thread, " << two[k] << " at two");
        break;
      }
    // And it is the product: one entry against a plain sum.
    const std::size_t i = c.M / 2, j = c.N - 1;
    double want = double(c.beta) * double(c0[i * ldc + j]);
    for (std::size_t k = 0; k < c.K; ++k)
      want += double(c.ta ? a[k * a_cols + i] : a[i * a_cols + k]) * double(c.tb ? b[j * b_cols + k] : b[k * b_cols + j]);
    CHECK(double(two[i * ldc + j]) == doctest::Approx(want).epsilon(1e-4));
  }
}

// Note [one-row products]: M = 1 runs as a GEMV (a transposed A as a GEMM). Every entry against
// a plain sum, for each transpose, padded strides, beta 0 over a C full of NaN (never scaled into the result), beta
// 1 and 0.5, at one thread and cut into pieces at two.
TEST_CASE_TEMPLATE("a one-row product equals the plain sum for every layout", T, float, double) {
  const std::size_t N = 1030, K = 70, pad = 3;  // N * K above the size the pool cuts into pieces
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (T beta : {T(0), T(1), T(0.5)})
        for (int threads : {1, 2}) {
          const std::size_t lda = (ta ? 1 : K) + pad, ldb = (tb ? K : N) + pad;
          const std::vector<float> af = counting((ta ? K : 1) * lda, 1.0f), bf = counting((tb ? N : K) * ldb, 0.5f),
                                   cf = counting(N, 2.0f);
          const std::vector<T> a(af.begin(), af.end()), b(bf.begin(), bf.end());
          std::vector<T> c(cf.begin(), cf.end());
          if (beta == T(0)) std::fill(c.begin(), c.end(), std::numeric_limits<T>::quiet_NaN());
          const std::vector<T> c0 = c;
          with_threads(threads, [&] {
            tg::detail::gemm(ta, tb, 1, N, K, T(2), a.data(), lda, b.data(), ldb, beta, c.data(), N);
          });
          CAPTURE(ta);
          CAPTURE(tb);
          CAPTURE(beta);
          CAPTURE(threads);
          for (std::size_t j = 0; j < N; ++j) {
            double want = beta == T(0) ? 0.0 : double(beta) * double(c0[j]);
            for (std::size_t k = 0; k < K; ++k)
              want += 2.0 * double(ta ? a[k * lda] : a[k]) * double(tb ? b[j * ldb + k] : b[k * ldb + j]);
            if (!(std::abs(double(c[j]) - want) <= 1e-5 * (1 + std::abs(want)))) {
              FAIL_CHECK("entry " << j << ": " << c[j] << ", want " << want);
              break;
            }
          }
        }
}

TEST_CASE("thread pool: elementwise ops and their gradients are the same at two threads as at one") {
  // 3 x 40000 elements: above the size where an elementwise op is cut into chunks.
  const tg::Shape shape{3, 40000};
  check_same_bits_at_one_and_two_threads([&] {
    tg::manual_seed(7);
    tg::Tensor x = tg::Tensor::param(tg::randn<float>(shape));
    tg::Tensor y = tg::Tensor::param(tg::randn<float>(shape));
    tg::Tensor bias = tg::Tensor::param(tg::randn<float>({40000}));
    tg::Tensor z = tg::sigmoid(x) * tg::tanh(y) + bias + x * y;  // bias broadcasts
    tg::sum(z * z).backward();
    return std::vector<tg::Tensor>{z, x.grad(), y.grad(), bias.grad()};
  });
}

TEST_CASE("thread pool: copies and row sums cut on the pool give the right values, the same at two threads as at one") {
  // Note [copies on the pool]: [64, 1536] slices and concats of 512 columns (32,768 elements,
  // above the size where a copy is cut), linear's prefill of bias and residual into [64, 1536],
  // its bias gradient (a sum over 64 rows) and the staging of its weight gradient (64 rows).
  constexpr std::size_t B = 64, I = 96, O = 1536;
  check_same_bits_at_one_and_two_threads([&] {
    tg::manual_seed(11);
    tg::Tensor x = tg::Tensor::param(tg::randn<float>({B, I}));
    tg::Tensor w = tg::Tensor::param(tg::randn<float>({O, I}));
    tg::Tensor b = tg::Tensor::param(tg::randn<float>({O}));
    tg::Tensor res = tg::Tensor::param(tg::randn<float>({B, O}));
    const tg::Tensor with_both = tg::linear(x, w, b, res), with_bias = tg::linear(x, w, b);
    const tg::Tensor mid = tg::slice(with_both, 1, 512, 512);           // [B, 512]
    const tg::Tensor glued = tg::concat({mid, tg::slice(with_bias, 1, 0, 512)}, 1);  // [B, 1024]
    const tg::Tensor weights = tg::Tensor::constant(tg::randn<float>({B, 1024}));
    tg::sum(glued * weights).backward();
    // What each piece must hold, from the tensors themselves (copies are exact).
    const auto both = with_both.to_xarray<float>(), bias_only = with_bias.to_xarray<float>();
    const auto got_mid = mid.to_xarray<float>(), got_glued = glued.to_xarray<float>();
    const auto rv = res.to_xarray<float>(), wts = weights.to_xarray<float>();
    const auto db = b.grad().to_xarray<float>();
    bool slice_ok = true, concat_ok = true, prefill_ok = true, db_ok = true;
    for (std::size_t r = 0; r < B; ++r)
      for (std::size_t j = 0; j < 512; ++j) {
        slice_ok = slice_ok && got_mid(r, j) == both(r, 512 + j);
        concat_ok = concat_ok && got_glued(r, j) == both(r, 512 + j) && got_glued(r, 512 + j) == bias_only(r, j);
      }
    for (std::size_t r = 0; r < B; ++r)  // residual + bias + x W^T: the same product both times
      for (std::size_t j = 0; j < O; ++j)
        prefill_ok = prefill_ok && std::abs(both(r, j) - (bias_only(r, j) + rv(r, j))) <=
                                       1e-4f * (1.0f + std::abs(both(r, j)));
    for (std::size_t j = 0; j < O; ++j) {  // db[j]: its column of dy summed over rows in order
      // with_bias's columns 0-511 reach weights' columns 512-1023, with_both's 512-1023 its 0-511
      const bool used = j < 1024;
      const std::size_t from = j < 512 ? 512 + j : j - 512;
      float want = 0.0f;
      for (std::size_t r = 0; r < B && used; ++r) want += wts(r, from);
      db_ok = db_ok && db(j) == want;
    }
    CHECK(slice_ok);
    CHECK(concat_ok);
    CHECK(prefill_ok);
    CHECK(db_ok);
    return std::vector<tg::Tensor>{glued, x.grad(), w.grad(), b.grad(), res.grad()};
  });
}

TEST_CASE("thread pool: float64 gradient checks of split products and chunked elementwise ops") {
  with_threads(2, [] {
    tg::manual_seed(3);
    // [16, 128] x [96, 128]^T: 196,608 multiply-adds (above the 2^17 where products are cut),
    // cut in two pieces forward and backward.
    tg::Tensor x = tg::Tensor::param(tg::randn<double>({16, 128}));
    tg::Tensor w = tg::Tensor::param(tg::randn<double>({96, 128}));
    tg::Tensor b = tg::Tensor::param(tg::randn<double>({96}));
    CHECK_GRADCHECK([](const std::vector<tg::Tensor>& in) { return tg::tanh(tg::linear(in[0], in[1], in[2])); },
                    (std::vector<tg::Tensor>{x, w, b}));
    // Few elements to perturb, broadcast into 16,640-element ops that run in chunks on both
    // threads (sigmoid, mul and add, forward and backward).
    tg::Tensor u = tg::Tensor::param(tg::randn<double>({64}));
    tg::Tensor v = tg::Tensor::param(tg::randn<double>({260, 1}));
    const tg::Tensor spread = tg::Tensor::constant(tg::randn<double>({260, 64}));
    CHECK_GRADCHECK([spread](const std::vector<tg::Tensor>& in) {
                      const tg::Tensor pre = in[0] + spread;  // [260, 64]
                      return tg::sum(tg::sigmoid(pre) * (pre + in[1]), 0);
                    },
                    (std::vector<tg::Tensor>{u, v}));
  });
}
