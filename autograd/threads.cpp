#include <tapegrad/autograd/threads.hpp>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

extern "C" void openblas_set_num_threads(int num_threads);

namespace tg {
namespace {
std::atomic<int> num_threads{1};
std::atomic<bool> applied{false};
}  // namespace

int available_cores() {
  int cores = 0;  // 0: not known yet
  const unsigned hc = std::thread::hardware_concurrency();
  if (hc > 0) cores = hc > unsigned(INT32_MAX) ? INT32_MAX : int(hc);
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0 && (cores == 0 || n < cores)) cores = n;
  }
#endif
  return cores > 0 ? cores : 1;
}

void set_num_threads(int n) {
  if (n < 1)
    throw std::invalid_argument("set_num_threads: the thread count must be at least 1, got " +
                                std::to_string(n));
  const int capped = std::min(n, available_cores());
  detail::check_blas_library();  // before anything changes: another OpenBLAS build is refused
  num_threads = capped;
  detail::resize_thread_pool(capped);
  detail::ensure_blas_threads();  // OpenBLAS on one thread, and this thread warmed up
}

int get_num_threads() { return num_threads; }

namespace detail {
void ensure_blas_threads() {
  if (!applied.load(std::memory_order_relaxed)) {
    check_blas_library();  // before the first GEMM: another OpenBLAS build is refused
    if (!applied.exchange(true)) openblas_set_num_threads(1);  // Note [one pool]: the pool cuts GEMMs
  }
  warm_up_blas();  // once per thread: a user's second thread is as cold as the first
}
}  // namespace detail

}  // namespace tg
