// Long graphs and steady memory: a 20,000-step unrolled LSTM, the tape's bytes per step, and
// a training loop whose tape, buffer pool and heap stay the same size step after step.
#include <malloc.h>

#include "test_helpers.hpp"

using tg::Tensor;

namespace {

// Runs an LSTM cell (B = 1, H = 32) over `steps` steps and returns the tape's recorded bytes.
std::size_t unrolled_bytes(const tg::LSTMCell& cell, std::size_t steps, bool backward) {
  tg::State s = cell.initial_state(1);
  const Tensor x = Tensor::constant(tg::uniform<float>({1, 4}, -1, 1));
  for (std::size_t t = 0; t < steps; ++t) s = cell(x, s);
  const std::size_t bytes = tg::tape_stats().recorded_bytes;
  if (backward) tg::sum(s[0]).backward();
  else tg::clear_tape();
  return bytes;
}

}  // namespace

TEST_CASE("long graphs: a 20,000-step LSTM runs forward, backward and destruction without overflow") {
  tg::manual_seed(101);
  tg::LSTMCell cell(4, 32);
  unrolled_bytes(cell, 20000, true);
  CHECK(tg::tape_stats().nodes == 0);
  for (const auto& p : cell.parameters()) CHECK(xt::all(xt::isfinite(p.grad().value<float>())));
  CHECK(xt::amax(xt::abs(cell.weight_hh.grad().value<float>()))() > 0.0f);
  unrolled_bytes(cell, 20000, false);  // never backwarded: released by clear_tape
  CHECK(tg::tape_stats().nodes == 0);
}

TEST_CASE("long graphs: the tape records the same bytes per step at T = 1,000 and T = 10,000") {
  tg::manual_seed(102);
  tg::LSTMCell cell(4, 32);
  const std::size_t short_run = unrolled_bytes(cell, 1000, false);
  const std::size_t long_run = unrolled_bytes(cell, 10000, false);
  CHECK(short_run > 0);
  CHECK(long_run == 10 * short_run);  // linear in T: memory is O(T), nothing else grows
}

TEST_CASE("steady memory: 2,000 training steps keep the tape, the pool and the heap the same size") {
  tg::manual_seed(103);
  // Start from a compact heap: mallinfo2() walks every free chunk, and earlier tests leave many.
  tg::release_pooled_memory();
  malloc_trim(0);
  tg::Embedding emb(20, 8);
  tg::LSTM lstm(8, 16);
  tg::Linear out(16, 20);
  std::vector<Tensor> params = emb.parameters();
  for (const tg::Module* m : {static_cast<const tg::Module*>(&lstm), static_cast<const tg::Module*>(&out)})
    for (auto& p : m->parameters()) params.push_back(p);
  tg::Adam opt(params, tg::AdamOptions(1e-2));
  tg::TBPTT tbptt(lstm, 10);
  xt::xarray<int> x = xt::xarray<int>::from_shape({10, 4}), y = x;
  for (auto& v : x) v = int(tg::randint(20));
  for (auto& v : y) v = int(tg::randint(20));
  auto step = [&] {
    Tensor loss = tg::cross_entropy(out(tbptt.forward(emb(x)).output), y);
    loss.backward();
    tg::clip_grad_norm(params, 5.0);
    opt.step();
    opt.zero_grad();
  };
  for (int i = 0; i < 5; ++i) step();  // warm up: gradients, optimizer state, pool
  const tg::MemoryStats pool = tg::memory_stats();
  const std::size_t heap = mallinfo2().uordblks;
  std::size_t worst_heap_growth = 0;
  for (int i = 0; i < 2000; ++i) {
    step();
    const tg::MemoryStats now = tg::memory_stats();
    REQUIRE(tg::tape_stats().nodes == 0);
    REQUIRE(now.live_bytes == pool.live_bytes);
    REQUIRE(now.pooled_bytes == pool.pooled_bytes);
    REQUIRE(now.system_allocations == pool.system_allocations);
    if (i % 100 == 0) {
      const std::size_t h = mallinfo2().uordblks;
      worst_heap_growth = std::max(worst_heap_growth, h > heap ? h - heap : 0);
    }
  }
#if !defined(__SANITIZE_ADDRESS__)
  // glibc's own count of bytes in use (the sanitizer's allocator bypasses it).
  MESSAGE("largest heap growth over 2,000 steps (sampled every 100): " << worst_heap_growth << " bytes");
  CHECK(worst_heap_growth < 64 * 1024);
#endif
}
