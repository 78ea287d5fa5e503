#pragma once
// Note [oneDNN for small products]: which float products oneDNN's sgemm serves instead of
// OpenBLAS, when tapegrad is built with oneDNN (TAPEGRAD_WITH_DNNL, Debian libdnnl-dev).
//
// A recurrent step multiplies a batch of rows by a whole weight, h [B, H] W^T [H, G] forward
// and dy [B, G] W [G, H] backward, T times per block. OpenBLAS packs the weight into panels on
// every call; oneDNN 2.6.3's JIT sgemm runs these products at 85 GFLOP/s per core on the
// project's current host (AMD EPYC family 25, AVX2) where OpenBLAS 0.3.21 (core Zen) reaches
// 67-72 (`tapegrad_gemm_study --by-shape`, docs/gemm_study.md). It is also faster on products
// whose right operand is small (K * N <= 2^18: the input projections and the head at S, the
// [6400 x 2048] x [2048 x 128] backward at M), and slower on large operands of many rows (the
// [6400 x 512] x [512 x 2048] products at M: 0.96x) and on weight gradients, op(A) = A^T
// ([512 x 256] x [256 x 128]: 56 against 83 GFLOP/s). So oneDNN serves a product when A is not
// transposed and it has at most 64 rows and K <= 1024, or K * N <= 2^18; OpenBLAS serves the
// rest, every double product (dnnl_sgemm is float only), and everything when
// TAPEGRAD_GEMM=openblas. The bound on K is measured in the step, not in the study: at M the
// backward's dy [64, 4H] W [4H, H] (K = 2048; the GRU's K = 1536) timed alike alone, but in
// the step oneDNN's made the backward 10% slower than OpenBLAS's (LSTM 1336 against 1204 ms,
// `tapegrad_bench --profile`); with them on OpenBLAS the backward takes 1165 ms.
//
// Measured on AVX2 cores only. On the AVX-512 cores where Note [skinny GEMMs] was measured,
// this rule now takes the few-row products before OpenBLAS's skinny split; which is faster
// there is not measured (TAPEGRAD_GEMM=openblas gives the split back).
//
// oneDNN runs its sgemm on its OpenMP runtime with omp_get_max_threads() threads. tapegrad's
// own pool cuts products (Note [GEMM on the pool]), so each call runs with one OpenMP thread on
// the calling thread: no OpenMP team is ever started beside the pool (Note [one pool]).
#include <cstddef>

namespace tg::detail {

// Whether oneDNN serves the single-threaded float product C [M, N] = op(A) [M, K] op(B) [K, N]:
// built with oneDNN, not turned off by TAPEGRAD_GEMM=openblas, and a shape it runs faster.
bool dnnl_serves(bool trans_a, std::size_t M, std::size_t N, std::size_t K);

// C = alpha op(A) op(B) + beta C through dnnl_sgemm on the calling thread alone (row-major,
// as gemm()). Only called when dnnl_serves said yes.
void dnnl_gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
               std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc);

// Throws BlasLibraryError when the oneDNN loaded is not the major.minor version tapegrad was
// built with, or when TAPEGRAD_GEMM is neither "auto" nor "openblas"; checked once per process,
// with the OpenBLAS check (check_blas_library).
void check_dnnl_library();

}  // namespace tg::detail
