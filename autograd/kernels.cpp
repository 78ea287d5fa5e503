#include <tapegrad/autograd/detail/kernels.hpp>

#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/autograd/detail/dnnl_gemm.hpp>
#include <tapegrad/autograd/detail/thread_pool.hpp>
#include <tapegrad/autograd/threads.hpp>

extern "C" char* openblas_get_corename(void);  // OpenBLAS's own API (we link OpenBLAS by name)

namespace tg::detail {

namespace {
// BLAS wants leading dimensions >= 1 even for empty matrices; an empty product scales C.
// A product BLAS does compute must have every size and leading dimension within its int:
// one past INT_MAX would be truncated into a wrong product (the ops refuse such shapes first).
template <class T>
bool gemm_is_trivial(std::size_t M, std::size_t N, std::size_t K, T beta, T* C, std::size_t ldc) {
  if (M == 0 || N == 0) return true;
  if (K > 0) {
    if (std::max({M, N, K, ldc}) > std::size_t(INT_MAX))
      throw std::invalid_argument("gemm: a size of the product [" + std::to_string(M) + ", " + std::to_string(K) +
                                  "] x [" + std::to_string(K) + ", " + std::to_string(N) +
                                  "] exceeds BLAS's int range (INT_MAX)");
    return false;
  }
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
  return true;
}

thread_local bool recording = false;
thread_local std::vector<GemmShape> recorded;

}  // namespace

void start_gemm_recording() {
  recorded.clear();
  recording = true;
}

std::vector<GemmShape> stop_gemm_recording() {
  recording = false;
  return std::move(recorded);
}

double replay_gemms(const std::vector<GemmShape>& shapes) {
  std::size_t most = 1;
  for (const auto& g : shapes) most = std::max({most, g.M * g.K, g.K * g.N, g.M * g.N});
  std::vector<float> a(most, 0.5f), b(most, 0.25f), c(most, 0.0f);
  ensure_blas_threads();
  const bool was_recording = std::exchange(recording, false);
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& g : shapes)  // through gemm(), so the replay splits a product as the step did
    gemm(g.trans_a, g.trans_b, g.M, g.N, g.K, 1.0f, a.data(), g.trans_a ? g.M : g.K, b.data(),
         g.trans_b ? g.K : g.N, g.accumulate ? 1.0f : 0.0f, c.data(), g.N);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  recording = was_recording;
  return seconds;
}

namespace {

void sgemm_call(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
                std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

// Whether OpenBLAS runs its AVX-512 cores here, the ones Note [skinny GEMMs] was measured on.
bool has_small_matrix_kernels() {
  static const bool yes = [] {
    std::string core = openblas_get_corename();  // "SkylakeX", "Cooperlake", "SapphireRapids", ...
    std::transform(core.begin(), core.end(), core.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return core == "skylakex" || core == "cooperlake" || core == "sapphirerapids";
  }();
  return yes;
}

}  // namespace

// Note [OpenBLAS warm-up]: on this project's Zen 1 machine (OpenBLAS 0.3.21, core Zen), a
// thread whose first products are all small runs every later single-threaded product 2-3.6x
// below the core's rate: [512 x 256] x [256 x 128] at 12 GFLOP/s instead of 43, the S RNN step's
// weight gradients at 15-21 (docs/gemm_study.md). One product of at least 384^3 multiply-adds
// lifts every later one on that thread to full speed (288^3 only halfway; measured with a
// standalone cblas_sgemm loop and tapegrad_gemm_study --by-shape). The state is per thread:
// a pool worker that had not run one computed its halves of the S RNN step's weight gradients
// at 29 GFLOP/s against 69-76 once warm. What inside OpenBLAS changes is not identified; the
// cure is measured: S RNN, one thread, 1.31x tokens/s; its GEMMs at two threads 1.32x. It
// costs one 512^3 product (~7 ms on one core) per thread that runs GEMMs: the caller's first,
// and each pool worker as it starts.
void warm_up_blas() {
  static thread_local const bool done = [] {
    constexpr std::size_t n = 512;
    std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n, 0.0f);
    sgemm_call(false, true, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    return true;
  }();
  (void)done;
}

namespace {

// Note [skinny GEMMs]: a recurrent step multiplies a few rows (a batch, B <= 32) by a whole
// weight: h [B, H] W^T [H, G] forward, dy [B, G] W [G, H] backward. OpenBLAS's packed path
// then spends 15-20% of the call copying W into panels, every call. Cut into pieces of at most
// 32 output columns (forward) or 64 inner products (backward), each piece goes to its
// small-matrix kernel, which reads W in place. Measured on OpenBLAS 0.3.21 (Cooperlake), one
// thread, B = 32: forward 0.87x (H=128, G=4H) and 0.82x (H=256) of the single call's time,
// backward 0.77x and 0.80x; B = 16 0.6-0.75x; B = 64 slower, so not split. Products below
// ~1e6 multiply-adds already take the small kernel whole (cutting them cost S rnn 2%). It was
// measured with one thread in the whole process, and is kept to that case.
//
// Note [one-row products]: C[1, N] = alpha a op(B) + beta C, where a is one row stored as a row (a
// batch of one: char_lm's validation, sampling and dynamic evaluation read one stream), runs as
// a GEMV: OpenBLAS's GEMM packs all of B into panels on every call, its GEMV reads B in place.
// (A row stored as a column, op(A) = A^T, is the weight gradient of a one-output layer: once per
// block, its packing amortised; it stays a GEMM.) On this
// project's 2-vCPU AMD host (OpenBLAS 0.3.21, core Zen; a standalone cblas loop, one thread,
// median of 7 x 2,000 calls): [1 x 256] . [256 x 1024] 96.6 -> 19.0 us, [1 x 384] . [384 x
// 1536] 222 -> 44 us, [1 x 256] . [256 x 65] 6.2 -> 1.1 us. C is zeroed first when beta = 0, so
// what the new buffer held (NaN bits, say) is never scaled into it.
void gemv_call(bool tb, std::size_t N, std::size_t K, float alpha, const float* a, const float* B,
               std::size_t ldb, float beta, float* c) {
  // tb: B stored [N, K], c = B . a; else B stored [K, N], c = B^T . a
  cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, int(tb ? N : K), int(tb ? K : N), alpha, B,
              int(ldb), a, 1, beta, c, 1);
}
void gemv_call(bool tb, std::size_t N, std::size_t K, double alpha, const double* a, const double* B,
               std::size_t ldb, double beta, double* c) {
  cblas_dgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, int(tb ? N : K), int(tb ? K : N), alpha, B,
              int(ldb), a, 1, beta, c, 1);
}
template <class T>
void one_row_product(bool tb, std::size_t N, std::size_t K, T alpha, const T* a, const T* B, std::size_t ldb,
                     T beta, T* C) {
  if (beta == T(0)) std::fill_n(C, N, T(0));
  gemv_call(tb, N, K, alpha, a, B, ldb, beta, C);
}

void one_thread_gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
                     std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc) {
  if (M == 1 && !ta) return one_row_product(tb, N, K, alpha, A, B, ldb, beta, C);
  if (dnnl_serves(ta, M, N, K)) return dnnl_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  const bool skinny = !ta && M <= 32 && double(M) * double(N) * double(K) > 1e6 && get_num_threads() == 1 &&
                      has_small_matrix_kernels();
  if (skinny && tb && N > 32) {  // C[:, n0:n0+32] = A . B[n0:n0+32, :]^T
    for (std::size_t n0 = 0; n0 < N; n0 += 32)
      sgemm_call(false, true, M, std::min<std::size_t>(32, N - n0), K, alpha, A, lda, B + n0 * ldb, ldb, beta,
                 C + n0, ldc);
    return;
  }
  if (skinny && !tb && N <= 256 && K > 64) {  // C = sum over k0 of A[:, k0:k0+64] . B[k0:k0+64, :]
    for (std::size_t k0 = 0; k0 < K; k0 += 64)
      sgemm_call(false, false, M, N, std::min<std::size_t>(64, K - k0), alpha, A + k0, lda, B + k0 * ldb, ldb,
                 k0 == 0 ? beta : 1.0f, C, ldc);
    return;
  }
  sgemm_call(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void one_thread_gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, double alpha, const double* A,
                     std::size_t lda, const double* B, std::size_t ldb, double beta, double* C, std::size_t ldc) {
  if (M == 1 && !ta) return one_row_product(tb, N, K, alpha, A, B, ldb, beta, C);
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M), int(N), int(K),
              alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

// Below this many multiply-adds a product runs whole on the calling thread (~4 us on one core).
constexpr double kMinSplitWork = 1 << 17;

// Note [GEMM on the pool]: OpenBLAS runs on one thread (Note [one pool]); with more threads a
// product is cut into one piece per thread along the longer of M and N (parallel_pieces), and
// each piece is one single-threaded OpenBLAS call on the pool. Cutting N packs A once per piece,
// cutting M packs B once per piece: the longer side is cut so the operand packed twice is the
// smaller one. The same thread count gives the same bits; against one thread, float sums can
// round differently (OpenBLAS may block K differently for a narrower piece; tests/
// test_thread_pool.cpp), double ones have matched bit for bit.
template <class T>
void pooled_gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
                 std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
  const std::size_t threads = std::size_t(get_num_threads());
  if (threads <= 1 || double(M) * double(N) * double(K) < kMinSplitWork ||
      inside_parallel_task()) {  // a task's product runs whole: its pieces would run serially
    one_thread_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const bool cut_n = N >= M;
  parallel_pieces(cut_n ? N : M, threads, [&](std::size_t begin, std::size_t end) {
    const std::size_t len = end - begin;
    if (cut_n)  // C[:, begin:end] = op(A) . op(B)[:, begin:end]
      one_thread_gemm(ta, tb, M, len, K, alpha, A, lda, tb ? B + begin * ldb : B + begin, ldb, beta, C + begin, ldc);
    else  // C[begin:end, :] = op(A)[begin:end, :] . op(B)
      one_thread_gemm(ta, tb, len, N, K, alpha, ta ? A + begin : A + begin * lda, lda, B, ldb, beta,
                      C + begin * ldc, ldc);
  });
}

}  // namespace

void gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha,
                 const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta,
                 float* C, std::size_t ldc) {
  if (gemm_is_trivial(M, N, K, beta, C, ldc)) return;
  if (recording) recorded.push_back({ta, tb, M, N, K, beta != 0.0f});  // the product as asked, before any split
  ensure_blas_threads();
  pooled_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, double alpha,
                  const double* A, std::size_t lda, const double* B, std::size_t ldb,
                  double beta, double* C, std::size_t ldc) {
  if (gemm_is_trivial(M, N, K, beta, C, ldc)) return;
  ensure_blas_threads();
  pooled_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T>
void add_into(T* dst, const T* src, std::size_t n) {
  parallel_range(n, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) dst[i] += src[i];
  });
}

Shape broadcast_strides(const Shape& in, const Shape& out) {
  Shape s(out.size(), 0);
  std::size_t stride = 1;
  const std::size_t lead = out.size() - in.size();  // missing leading dims broadcast
  for (std::size_t d = in.size(); d-- > 0;) {
    s[lead + d] = in[d] == 1 ? 0 : stride;
    stride *= in[d];
  }
  return s;
}

template <class T>
void accumulate_sum_to(T* dst, const Shape& ds, const T* src, const Shape& ss) {
  const std::size_t n = numel(ss), m = numel(ds);
  if (n == m) {  // same element count: broadcasting only added or kept size-1 dims
    add_into(dst, src, n);
    return;
  }
  // Fast path: dst is a trailing block of src (a [N] bias of a [B, N] output): sum rows.
  bool trailing = ds.size() <= ss.size();
  for (std::size_t i = 0; trailing && i < ds.size(); ++i)
    trailing = ds[ds.size() - 1 - i] == ss[ss.size() - 1 - i] || ds[ds.size() - 1 - i] == 1;
  if (trailing && m > 0 && n % m == 0) {
    std::size_t tail = 1;  // product of src's trailing dims that dst matches exactly
    bool exact = true;
    for (std::size_t i = 0; i < ds.size(); ++i) {
      exact = exact && ds[ds.size() - 1 - i] == ss[ss.size() - 1 - i];
      if (exact) tail *= ds[ds.size() - 1 - i];
    }
    if (tail == m) {
      add_rows_into(dst, src, n / m, m);
      return;
    }
  }
  // General case: walk src with an odometer, dst strides 0 on broadcast dims.
  const Shape sd = broadcast_strides(ds, ss);
  const std::size_t rank = ss.size();
  Shape idx(rank, 0);
  std::size_t od = 0;
  for (std::size_t i = 0; i < n; ++i) {
    dst[od] += src[i];
    for (std::size_t d = rank; d-- > 0;) {
      od += sd[d];
      if (++idx[d] < ss[d]) break;
      od -= sd[d] * ss[d];
      idx[d] = 0;
    }
  }
}

template void add_into<float>(float*, const float*, std::size_t);
template void add_into<double>(double*, const double*, std::size_t);
template void accumulate_sum_to<float>(float*, const Shape&, const float*, const Shape&);
template void accumulate_sum_to<double>(double*, const Shape&, const double*, const Shape&);

}  // namespace tg::detail
