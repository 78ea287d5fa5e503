#include <tapegrad/autograd/buffer_pool.hpp>

#include <tapegrad/autograd/detail/buffer.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

namespace tg {
namespace {

constexpr std::size_t kAlignment = 64;  // a cache line; also AVX-512's vector width

std::size_t rounded(std::size_t bytes) {
  if (bytes > SIZE_MAX - (kAlignment - 1)) throw std::bad_alloc();  // would wrap to a tiny block
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

struct Pool {
  std::unordered_map<std::size_t, std::vector<void*>> free_lists;  // rounded size -> blocks
  MemoryStats stats;

  void release_all() {
    for (auto& [bytes, blocks] : free_lists)
      for (void* p : blocks) std::free(p);
    free_lists.clear();
    stats.pooled_bytes = stats.pooled_buffers = 0;
  }
  ~Pool();
};

// A block freed after this thread's pool is destroyed (a static tensor outliving main's
// thread_locals) goes straight back to the system.
thread_local bool pool_destroyed = false;
thread_local Pool pool;

Pool::~Pool() {
  release_all();
  pool_destroyed = true;
}

}  // namespace

namespace detail {

void throw_allocation_error(const char* op, const std::string& shape, std::size_t bytes) {
  throw AllocationError(std::string(op) + ": cannot allocate " + std::to_string(bytes) +
                        " bytes for a tensor of shape " + shape + " (out of memory)");
}

void* pool_acquire(std::size_t bytes) {
  const std::size_t size = rounded(bytes);
  if (!pool_destroyed) {
    auto it = pool.free_lists.find(size);
    if (it != pool.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      pool.stats.pooled_bytes -= size;
      pool.stats.pooled_buffers -= 1;
      pool.stats.live_bytes += size;
      pool.stats.live_buffers += 1;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, size);
  // Out of memory while the pool holds at least as much in free blocks of other sizes: give
  // them back and try once more. Nothing is counted until a block is in hand, so a failure
  // leaves the pool's lists and counters as they were.
  if (!p && !pool_destroyed && pool.stats.pooled_bytes >= size) {
    pool.release_all();
    p = std::aligned_alloc(kAlignment, size);
  }
  if (!p) throw std::bad_alloc();
  if (!pool_destroyed) {
    pool.stats.system_allocations += 1;
    pool.stats.live_bytes += size;
    pool.stats.live_buffers += 1;
  }
  return p;
}

void pool_release(void* ptr, std::size_t bytes) noexcept {
  const std::size_t size = rounded(bytes);
  if (pool_destroyed) {
    std::free(ptr);
    return;
  }
  try {
    pool.free_lists[size].push_back(ptr);
  } catch (...) {  // out of memory for the free list itself: give the block back instead
    std::free(ptr);
    return;
  }
  // A block may be freed on another thread than the one that took it; the counters are
  // per thread, so clamp instead of wrapping around.
  pool.stats.live_bytes -= std::min(pool.stats.live_bytes, size);
  pool.stats.live_buffers -= std::min<std::size_t>(pool.stats.live_buffers, 1);
  pool.stats.pooled_bytes += size;
  pool.stats.pooled_buffers += 1;
}

}  // namespace detail

MemoryStats memory_stats() { return pool_destroyed ? MemoryStats{} : pool.stats; }

void release_pooled_memory() {
  if (!pool_destroyed) pool.release_all();
}

}  // namespace tg
