#include <tapegrad/autograd/detail/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>
#include <thread>
#include <vector>

#include <pthread.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/threads.hpp>

// Note [one pool]: tapegrad's parallel work (the pieces of a GEMM, the chunks of an
// elementwise op) runs on this one pool, and OpenBLAS always runs on one thread. With
// OpenBLAS threading the GEMMs and nothing threading the rest, OpenBLAS's idle worker spent
// 18% of the S LSTM step's CPU samples in sched_yield between ~200 small products, and the
// work outside the GEMMs ran slower at two threads than at one (docs/gemm_study.md). One pool
// also means no two runtimes spin against each other for the same cores.
//
// A job is published in one 64-bit word, [generation:32 | tasks:16 | next:16]; a thread claims
// task `next` by compare-and-swap on the word, so a thread that wakes late for a finished job
// sees another generation, or no task left, and claims nothing. The caller waits until every
// task is done, so a job's function and context (on the caller's stack) outlive every claim.
// Between jobs a worker spins for kSpin (the ops of a step follow each other within
// microseconds, and a wake-up from sleep costs tens), then sleeps on a condition variable.

namespace tg::detail {
namespace {

constexpr std::uint64_t kTaskBits = 16;
constexpr std::uint64_t kTaskMask = (std::uint64_t(1) << kTaskBits) - 1;
constexpr std::size_t kMaxTasks = kTaskMask;  // larger jobs run serially
constexpr auto kSpin = std::chrono::microseconds(2000);

std::uint32_t generation_of(std::uint64_t word) { return std::uint32_t(word >> (2 * kTaskBits)); }
std::uint64_t tasks_of(std::uint64_t word) { return (word >> kTaskBits) & kTaskMask; }
std::uint64_t next_of(std::uint64_t word) { return word & kTaskMask; }

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

thread_local bool inside_pool = false;  // this thread runs a job (as its caller or a worker)

class Pool {
 public:

  // Serial unless this thread can take the pool and there are workers to share with.
  void run(std::size_t tasks, void (*fn)(void*, std::size_t), void* ctx) {
    std::unique_lock<std::mutex> own(owner_, std::defer_lock);
    if (tasks <= 1 || tasks > kMaxTasks || inside_pool || worker_count_.load(std::memory_order_relaxed) == 0 ||
        !own.try_lock()) {
      std::exception_ptr first;
      for (std::size_t i = 0; i < tasks; ++i) try {
          fn(ctx, i);
        } catch (...) {
          if (!first) first = std::current_exception();
        }
      if (first) std::rethrow_exception(first);
      return;
    }
    inside_pool = true;
    fn_ = fn;
    ctx_ = ctx;
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    const std::uint32_t generation = generation_of(word_.load(std::memory_order_relaxed)) + 1;
    word_.store(std::uint64_t(generation) << (2 * kTaskBits) | std::uint64_t(tasks) << kTaskBits);
    if (sleepers_.load() > 0) {  // seq_cst against the sleeper's count-then-check (Dekker)
      { std::lock_guard<std::mutex> lock(sleep_mutex_); }
      wake_.notify_all();
    }
    work_on(generation);
    while (done_.load(std::memory_order_acquire) < tasks) cpu_relax();
    inside_pool = false;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

  void resize(int threads) {
    if (inside_pool) throw std::logic_error("set_num_threads: called from inside a parallel task");
    std::lock_guard<std::mutex> own(owner_);  // after any running job
    const std::size_t wanted = threads > 1 ? std::size_t(threads - 1) : 0;
    if (wanted == workers_.size()) return;
    stop_workers();
    for (std::size_t i = 0; i < wanted; ++i) workers_.emplace_back([this] { worker_loop(); });
    worker_count_ = wanted;
  }

  // In a forked child only the forking thread exists: the workers' handles name threads of
  // the parent, which must be neither joined nor destroyed (a joinable std::thread's
  // destructor terminates), so they are left behind and the child starts with none.
  void forget_workers_after_fork() {
    new std::vector<std::thread>(std::move(workers_));  // deliberately leaked
    workers_.clear();
    worker_count_ = 0;
    sleepers_ = 0;
    new (&sleep_mutex_) std::mutex;  // a worker of the parent may have held them
    new (&wake_) std::condition_variable;
  }

 private:
  // Claims and runs the tasks of `generation` until none is left.
  void work_on(std::uint32_t generation) {
    for (;;) {
      std::uint64_t word = word_.load(std::memory_order_acquire);
      if (generation_of(word) != generation || next_of(word) >= tasks_of(word)) return;
      if (!word_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel)) continue;
      try {
        fn_(ctx_, std::size_t(next_of(word)));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      done_.fetch_add(1, std::memory_order_release);
    }
  }

  void worker_loop() {
    inside_pool = true;  // a task that calls parallel_for runs it serially
    // Read before the warm-up: a job published meanwhile is then not taken for an old one.
    std::uint32_t seen = generation_of(word_.load());
    warm_up_blas();
    for (;;) {
      if (!wait_for_job(seen)) return;
      seen = generation_of(word_.load(std::memory_order_acquire));
      work_on(seen);
    }
  }

  // Spins, then sleeps, until a job after `seen` is published (true) or the pool stops.
  bool wait_for_job(std::uint32_t seen) {
    const auto give_up = std::chrono::steady_clock::now() + kSpin;
    for (unsigned spin = 1;; ++spin) {
      if (stopping_.load(std::memory_order_relaxed)) return false;
      if (generation_of(word_.load(std::memory_order_acquire)) != seen) return true;
      cpu_relax();
      if (spin % 1024 == 0 && std::chrono::steady_clock::now() > give_up) break;
    }
    std::unique_lock<std::mutex> lock(sleep_mutex_);
    sleepers_.fetch_add(1);
    wake_.wait(lock, [&] { return stopping_.load() || generation_of(word_.load()) != seen; });
    sleepers_.fetch_sub(1);
    return !stopping_.load();
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    worker_count_ = 0;
    stopping_ = false;
  }

  std::mutex owner_;  // held by the thread whose job the pool runs
  std::vector<std::thread> workers_;
  std::atomic<std::size_t> worker_count_{0};
  std::atomic<std::uint64_t> word_{0};  // the published job: Note [one pool]
  std::atomic<std::size_t> done_{0};
  void (*fn_)(void*, std::size_t) = nullptr;
  void* ctx_ = nullptr;
  std::mutex error_mutex_;
  std::exception_ptr error_;
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};
};

// Never destroyed: a static destroyed after it at exit may still run ops (serially, or on
// workers that are still there), and a worker must never outlive its pool.
Pool& pool() {
  static Pool* const p = [] {
    auto* created = new Pool;
    pthread_atfork(nullptr, nullptr, [] { pool().forget_workers_after_fork(); });
    return created;
  }();
  return *p;
}

// Below this many elements an elementwise op runs whole on the calling thread. Measured with
// tapegrad_bench, two threads: at M (LSTM ops of [64, 512]) chunking them made the step 2.5-3%
// faster; at S (ops of [32, 128]) a threshold of 4096 or 2048 made the step 2-3% slower.
constexpr std::size_t kMinParallelElements = 1 << 14;

}  // namespace

void run_parallel(std::size_t tasks, void (*fn)(void*, std::size_t), void* ctx) { pool().run(tasks, fn, ctx); }

void resize_thread_pool(int threads) { pool().resize(threads); }

bool inside_parallel_task() { return inside_pool; }

std::size_t elementwise_chunks(std::size_t n) {
  const int threads = get_num_threads();
  if (threads <= 1 || n < kMinParallelElements) return 1;
  return std::size_t(threads);
}

}  // namespace tg::detail
