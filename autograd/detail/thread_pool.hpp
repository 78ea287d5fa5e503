#pragma once
// The one pool of threads all of tapegrad's parallel work runs on: the pieces of a GEMM and the
// chunks of an elementwise op alike (Note [one pool] in thread_pool.cpp). Internal to tapegrad.
#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace tg::detail {

// Runs fn(ctx, i) once for every i in [0, tasks) and returns when all have run; the calling
// thread runs tasks too. Serial when the thread count is 1, when there is one task, inside a
// task, and while another thread has the pool. The first exception a task throws is rethrown
// here after every task has run.
void run_parallel(std::size_t tasks, void (*fn)(void*, std::size_t), void* ctx);

// parallel_for(tasks, [&](std::size_t i) { ... }): run_parallel for a callable.
template <class F>
void parallel_for(std::size_t tasks, F&& body) {
  using Body = std::remove_reference_t<F>;
  run_parallel(tasks, [](void* ctx, std::size_t i) { (*static_cast<Body*>(ctx))(i); },
               const_cast<void*>(static_cast<const void*>(&body)));
}

// How many chunks to cut n elements of elementwise work into: 1 below the size where a
// hand-off to another thread pays, else one per thread.
std::size_t elementwise_chunks(std::size_t n);

// Runs body(begin, end) over [0, n) cut into at most `pieces` contiguous ranges, on the pool.
// Every bound but n is a multiple of 16 elements: whole cache lines for float, so no two
// threads write one, and whole register blocks of OpenBLAS's kernels. One piece runs directly.
template <class F>
void parallel_pieces(std::size_t n, std::size_t pieces, F&& body) {
  const std::size_t per = pieces > 1 ? ((n + pieces - 1) / pieces + 15) / 16 * 16 : n;
  if (per >= n) {
    body(std::size_t(0), n);
    return;
  }
  parallel_for((n + per - 1) / per, [&](std::size_t p) { body(p * per, std::min(n, (p + 1) * per)); });
}

// Runs body(begin, end) over [0, n) in elementwise_chunks(n * cost) pieces (parallel_pieces);
// cost is the work per element relative to an add (detail::Cost in elementwise.hpp).
template <class F>
void parallel_range(std::size_t n, F&& body, std::size_t cost = 1) {
  parallel_pieces(n, elementwise_chunks(n * cost), std::forward<F>(body));
}

// Resizes the pool to threads - 1 workers (the caller is the other one); called by
// set_num_threads. Waits for a running parallel_for to end first; std::logic_error from
// inside a task.
void resize_thread_pool(int threads);

// Whether this thread runs a task of the pool (its parallel_for calls run serially).
bool inside_parallel_task();

}  // namespace tg::detail
