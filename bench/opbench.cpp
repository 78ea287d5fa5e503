// tapegrad_opbench (Google Benchmark; --benchmark_format=json for JSON): the cost of one
// recorded op, forward alone and forward + backward, on 4x4 tensors (the fixed cost of the
// tape), a [64, 512] sigmoid, a [32, 1024] layer_norm, and a [64, 512] x [512, 2048] matmul;
// and N-D matmul against the same GEMMs called one by one through cblas (the rate the batched
// op must keep); and the hand-off of one job on the thread pool.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <chrono>
#include <vector>

#include <tapegrad/autograd/detail/thread_pool.hpp>
#include <tapegrad/tapegrad.hpp>

namespace {

using tg::Tensor;

// Forward of op(a, b) recorded on the tape, which is released every iteration.
template <class Op>
void forward(benchmark::State& state, const tg::Shape& sa, const tg::Shape& sb, Op op) {
  tg::manual_seed(0);
  const Tensor a = Tensor::param(tg::randn<float>(sa)), b = Tensor::param(tg::randn<float>(sb));
  for (auto _ : state) {
    Tensor y = op(a, b);
    benchmark::DoNotOptimize(y.data<float>());
    tg::clear_tape();
  }
}

// Forward, then backward seeded with ones (gradients accumulate into a and b).
template <class Op>
void forward_backward(benchmark::State& state, const tg::Shape& sa, const tg::Shape& sb, Op op) {
  tg::manual_seed(0);
  Tensor a = Tensor::param(tg::randn<float>(sa)), b = Tensor::param(tg::randn<float>(sb));
  const Tensor seed = Tensor::full(op(a, b).shape(), 1.0);
  tg::clear_tape();
  for (auto _ : state) {
    op(a, b).backward(seed);
    benchmark::DoNotOptimize(a.grad_data<float>());
  }
}

const auto kAdd = [](const Tensor& a, const Tensor& b) { return a + b; };
const auto kMul = [](const Tensor& a, const Tensor& b) { return a * b; };
const auto kTanh = [](const Tensor& a, const Tensor&) { return tg::tanh(a); };
const auto kSigmoid = [](const Tensor& a, const Tensor&) { return tg::sigmoid(a); };
const auto kMatmul = [](const Tensor& a, const Tensor& b) { return tg::matmul(a, b); };
const auto kLayerNorm = [](const Tensor& x, const Tensor& gamma) {
  static const Tensor beta = Tensor::param(xt::zeros<float>(gamma.shape()));
  return tg::layer_norm(x, gamma, beta);
};

// The GEMMs of a batched product and its backward, called one by one: for each of `batches`,
// C = A B [M, N], then dA += dC B^T and dB += A^T dC (gradients accumulate, as on the tape).
void gemms_one_by_one(benchmark::State& state, int batches, int M, int K, int N) {
  tg::set_num_threads(tg::get_num_threads());  // OpenBLAS gets tapegrad's thread count (1 by default)
  tg::manual_seed(0);
  const auto random = [](std::size_t n) {
    const auto r = tg::randn<float>({n});
    return std::vector<float>(r.begin(), r.end());
  };
  const std::size_t mk = std::size_t(M) * K, kn = std::size_t(K) * N, mn = std::size_t(M) * N;
  const std::vector<float> A = random(batches * mk), B = random(batches * kn);
  std::vector<float> C(batches * mn), dA(batches * mk), dB(batches * kn);
  const std::vector<float> dC(batches * mn, 1.0f);
  for (auto _ : state) {
    for (int i = 0; i < batches; ++i)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, &A[i * mk], K, &B[i * kn], N, 0.0f,
                  &C[i * mn], N);
    for (int i = 0; i < batches; ++i) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1.0f, &dC[i * mn], N, &B[i * kn], N, 1.0f,
                  &dA[i * mk], K);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, &A[i * mk], K, &dC[i * mn], N, 1.0f,
                  &dB[i * kn], N);
    }
    benchmark::DoNotOptimize(dB.data());
  }
}

void BM_add_4x4_forward(benchmark::State& s) { forward(s, {4, 4}, {4, 4}, kAdd); }
void BM_add_4x4_forward_backward(benchmark::State& s) { forward_backward(s, {4, 4}, {4, 4}, kAdd); }
void BM_mul_4x4_forward(benchmark::State& s) { forward(s, {4, 4}, {4, 4}, kMul); }
void BM_mul_4x4_forward_backward(benchmark::State& s) { forward_backward(s, {4, 4}, {4, 4}, kMul); }
void BM_tanh_4x4_forward(benchmark::State& s) { forward(s, {4, 4}, {4, 4}, kTanh); }
void BM_tanh_4x4_forward_backward(benchmark::State& s) { forward_backward(s, {4, 4}, {4, 4}, kTanh); }
void BM_matmul_4x4_forward(benchmark::State& s) { forward(s, {4, 4}, {4, 4}, kMatmul); }
void BM_matmul_4x4_forward_backward(benchmark::State& s) { forward_backward(s, {4, 4}, {4, 4}, kMatmul); }
void BM_sigmoid_64x512_forward(benchmark::State& s) { forward(s, {64, 512}, {1}, kSigmoid); }
void BM_sigmoid_64x512_forward_backward(benchmark::State& s) { forward_backward(s, {64, 512}, {1}, kSigmoid); }
// The LayerNorm-LSTM's hidden-to-hidden normalisation at S: B = 32 rows of 4H = 1024.
void BM_layer_norm_32x1024_forward(benchmark::State& s) { forward(s, {32, 1024}, {1024}, kLayerNorm); }
void BM_layer_norm_32x1024_forward_backward(benchmark::State& s) {
  forward_backward(s, {32, 1024}, {1024}, kLayerNorm);
}
void BM_matmul_64x512x2048_forward(benchmark::State& s) { forward(s, {64, 512}, {512, 2048}, kMatmul); }
void BM_matmul_64x512x2048_forward_backward(benchmark::State& s) {
  forward_backward(s, {64, 512}, {512, 2048}, kMatmul);
}

}  // namespace

// [8, 4, 64, 32] x [8, 4, 32, 64]: 32 products of [64, 32] x [32, 64], against the 32 GEMMs.
void BM_matmul_batched_8x4x64x32x64_forward_backward(benchmark::State& s) {
  forward_backward(s, {8, 4, 64, 32}, {8, 4, 32, 64}, kMatmul);
}
void BM_gemms_batched_8x4x64x32x64_forward_backward(benchmark::State& s) { gemms_one_by_one(s, 32, 64, 32, 64); }
// [32, 64, 128] x [128, 512]: a broadcast weight, one GEMM of 2048 rows, against that GEMM.
void BM_matmul_broadcast_32x64x128x512_forward_backward(benchmark::State& s) {
  forward_backward(s, {32, 64, 128}, {128, 512}, kMatmul);
}
void BM_gemm_broadcast_32x64x128x512_forward_backward(benchmark::State& s) { gemms_one_by_one(s, 1, 2048, 128, 512); }

// One pool job of two tasks that each spin for range(0) microseconds, at range(1) threads: what
// a job costs above its work (range(0) at two threads, twice that at one) is the hand-off of
// Note [one pool], which every split op pays.
void BM_pool_job(benchmark::State& s) {
  const auto work = std::chrono::microseconds(s.range(0));
  const int before = tg::get_num_threads();
  tg::set_num_threads(int(s.range(1)));
  for (auto _ : s)
    tg::detail::parallel_for(2, [&](std::size_t) {
      const auto end = std::chrono::steady_clock::now() + work;
      while (std::chrono::steady_clock::now() < end) {
      }
    });
  tg::set_num_threads(before);
}

BENCHMARK(BM_add_4x4_forward);
BENCHMARK(BM_add_4x4_forward_backward);
BENCHMARK(BM_mul_4x4_forward);
BENCHMARK(BM_mul_4x4_forward_backward);
BENCHMARK(BM_tanh_4x4_forward);
BENCHMARK(BM_tanh_4x4_forward_backward);
BENCHMARK(BM_matmul_4x4_forward);
BENCHMARK(BM_matmul_4x4_forward_backward);
BENCHMARK(BM_sigmoid_64x512_forward);
BENCHMARK(BM_sigmoid_64x512_forward_backward);
BENCHMARK(BM_layer_norm_32x1024_forward);
BENCHMARK(BM_layer_norm_32x1024_forward_backward);
BENCHMARK(BM_matmul_64x512x2048_forward)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_matmul_64x512x2048_forward_backward)->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_matmul_batched_8x4x64x32x64_forward_backward)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_gemms_batched_8x4x64x32x64_forward_backward)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_matmul_broadcast_32x64x128x512_forward_backward)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_gemm_broadcast_32x64x128x512_forward_backward)->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_pool_job)->Args({5, 1})->Args({5, 2})->Args({20, 1})->Args({20, 2})->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
