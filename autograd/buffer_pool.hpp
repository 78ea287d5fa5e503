#pragma once
// The memory of tensors: the pool's counters, and the error a failed allocation throws.
// Note [buffer pool] (detail/buffer.hpp): every tensor value and gradient lives in a 64-byte
// aligned block taken from a per-thread pool of exact-size free lists. When backward()
// releases the tape, the blocks go back to the pool and the next iteration reuses them, so a
// training loop stops calling malloc (and page-faulting fresh memory) after its first step.
#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>

namespace tg {

struct MemoryStats {
  std::size_t live_bytes = 0;     // held by tensors of this thread's pool right now
  std::size_t live_buffers = 0;
  std::size_t pooled_bytes = 0;   // free, kept for reuse
  std::size_t pooled_buffers = 0;
  std::size_t system_allocations = 0;  // blocks ever requested from the system allocator
};

// Counters of the calling thread's pool.
MemoryStats memory_stats();
// Returns every free block of the calling thread's pool to the system.
void release_pooled_memory();

// A tensor's memory could not be allocated: a std::bad_alloc whose what() names the op, the
// shape and the byte count ("zeros: cannot allocate 4503599627370496 bytes for a tensor of
// shape [...]"). The pool and the tape are as they were before the call.
class AllocationError : public std::bad_alloc {
 public:
  explicit AllocationError(const std::string& message) : message_(message) {}
  const char* what() const noexcept override { return message_.what(); }

 private:
  std::runtime_error message_;  // a string with a nothrow copy
};

}  // namespace tg
