#pragma once
// Note [buffer pool]: every tensor value and gradient lives in a 64-byte aligned block taken
// from a per-thread pool of exact-size free lists. When backward() releases the tape, the
// blocks go back to the pool and the next iteration reuses them, so a training loop stops
// calling malloc (and page-faulting fresh memory) after its first step.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

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

namespace detail {
// Throws AllocationError: "<op>: cannot allocate <bytes> bytes for a tensor of shape <shape>".
[[noreturn]] void throw_allocation_error(const char* op, const std::string& shape, std::size_t bytes);
// Blocks from the pool or the system; std::bad_alloc when neither has one (the pool's free
// blocks are given back to the system first when that could make room). Never returns null.
void* pool_acquire(std::size_t bytes);
void pool_release(void* ptr, std::size_t bytes) noexcept;
}  // namespace detail

// A move-only array of n T's: owning, from the pool (contents uninitialized unless zeroed), or
// borrowed, a view of n elements of another buffer whose owner outlives it (see TensorImpl::base).
template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t n) : n_(n) {
    if (n_ > std::size_t(PTRDIFF_MAX) / sizeof(T)) throw std::bad_alloc();  // n * sizeof(T) would wrap
    if (n_) ptr_ = static_cast<T*>(detail::pool_acquire(n_ * sizeof(T)));
  }
  static Buffer zeros(std::size_t n) {
    Buffer b(n);
    if (n) std::memset(b.ptr_, 0, n * sizeof(T));
    return b;
  }
  static Buffer borrowed(T* ptr, std::size_t n) {
    Buffer b;
    b.ptr_ = n ? ptr : nullptr;
    b.n_ = n;
    b.owned_ = false;
    return b;
  }
  Buffer(Buffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)), owned_(std::exchange(o.owned_, true)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      n_ = std::exchange(o.n_, 0);
      owned_ = std::exchange(o.owned_, true);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { reset(); }

  void reset() noexcept {
    if (ptr_ && owned_) detail::pool_release(ptr_, n_ * sizeof(T));
    ptr_ = nullptr;
    n_ = 0;
    owned_ = true;
  }
  T* data() noexcept { return ptr_; }
  const T* data() const noexcept { return ptr_; }
  std::size_t size() const noexcept { return n_; }
  bool empty() const noexcept { return ptr_ == nullptr; }
  bool owned() const noexcept { return owned_; }

 private:
  T* ptr_ = nullptr;
  std::size_t n_ = 0;
  bool owned_ = true;
};

}  // namespace tg
