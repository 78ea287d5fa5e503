#pragma once
// Thread count of BLAS (and of any threads of tapegrad's own; it has none today).
// The default is 1: small recurrent GEMMs run slower on two threads when the other core is busy.

namespace tg {

// n >= 1; std::invalid_argument otherwise. Never more threads than asked.
void set_num_threads(int n);
int get_num_threads();

namespace detail {
// Applies the thread count to OpenBLAS before the first GEMM.
void ensure_blas_threads();
}  // namespace detail

}  // namespace tg
