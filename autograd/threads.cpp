#include <tapegrad/autograd/threads.hpp>

#include <atomic>
#include <stdexcept>
#include <string>

extern "C" void openblas_set_num_threads(int num_threads);

namespace tg {
namespace {
std::atomic<int> num_threads{1};
std::atomic<bool> applied{false};
}  // namespace

void set_num_threads(int n) {
  if (n < 1)
    throw std::invalid_argument("set_num_threads: the thread count must be at least 1, got " +
                                std::to_string(n));
  num_threads = n;
  openblas_set_num_threads(n);
  applied = true;
}

int get_num_threads() { return num_threads; }

namespace detail {
void ensure_blas_threads() {
  if (!applied.exchange(true)) openblas_set_num_threads(num_threads);
}
}  // namespace detail

}  // namespace tg
