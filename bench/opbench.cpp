// tapegrad_opbench (Google Benchmark; --benchmark_format=json for JSON): the cost of one
// recorded op, forward alone and forward + backward, on 4x4 tensors (the fixed cost of the
// tape), a [64, 512] sigmoid, and a [64, 512] x [512, 2048] matmul.
#include <benchmark/benchmark.h>

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
void BM_matmul_64x512x2048_forward(benchmark::State& s) { forward(s, {64, 512}, {512, 2048}, kMatmul); }
void BM_matmul_64x512x2048_forward_backward(benchmark::State& s) {
  forward_backward(s, {64, 512}, {512, 2048}, kMatmul);
}

}  // namespace

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
BENCHMARK(BM_matmul_64x512x2048_forward)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_matmul_64x512x2048_forward_backward)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
