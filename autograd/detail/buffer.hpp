#pragma once
// Storage: a tensor's value or gradient, of a runtime dtype; Buffer<T>: a kernel's scratch
// array, a Storage seen as T. Both hold pooled memory (Note [buffer pool] in buffer_pool.hpp).
// Internal to tapegrad.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include <tapegrad/autograd/buffer_pool.hpp>
#include <tapegrad/autograd/dtype.hpp>

namespace tg {

namespace detail {
// Throws AllocationError: "<op>: cannot allocate <bytes> bytes for a tensor of shape <shape>".
[[noreturn]] void throw_allocation_error(const char* op, const std::string& shape, std::size_t bytes);
// Blocks from the pool or the system; std::bad_alloc when neither has one (the pool's free
// blocks are given back to the system first when that could make room). Never returns null.
void* pool_acquire(std::size_t bytes);
void pool_release(void* ptr, std::size_t bytes) noexcept;
}  // namespace detail

// A tensor's value, gradient or retained gradient: n elements of a runtime dtype, from the
// pool (owned) or borrowed from another tensor's storage (a view's value). Kernels reach the
// elements as their type with data<T>(), which the op's dispatch has matched to the dtype.
class Storage {
 public:
  Storage() = default;
  Storage(Dtype dtype, std::size_t n) : n_(n), dtype_(dtype) {
    if (n_ > std::size_t(PTRDIFF_MAX) / dtype_size(dtype)) throw std::bad_alloc();  // bytes would wrap
    if (n_) ptr_ = detail::pool_acquire(bytes());
  }
  static Storage zeros(Dtype dtype, std::size_t n) {
    Storage s(dtype, n);
    if (n) std::memset(s.ptr_, 0, s.bytes());
    return s;
  }
  static Storage borrowed(void* ptr, Dtype dtype, std::size_t n) {
    Storage s;
    s.ptr_ = n ? ptr : nullptr;
    s.n_ = n;
    s.dtype_ = dtype;
    s.owned_ = false;
    return s;
  }
  Storage(Storage&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)), dtype_(o.dtype_),
        owned_(std::exchange(o.owned_, true)) {}
  Storage& operator=(Storage&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      n_ = std::exchange(o.n_, 0);
      dtype_ = o.dtype_;
      owned_ = std::exchange(o.owned_, true);
    }
    return *this;
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() { reset(); }

  void reset() noexcept {
    if (ptr_ && owned_) detail::pool_release(ptr_, bytes());
    ptr_ = nullptr;
    n_ = 0;
    owned_ = true;
  }
  template <class T>
  T* data() noexcept {
    return static_cast<T*>(ptr_);
  }
  template <class T>
  const T* data() const noexcept {
    return static_cast<const T*>(ptr_);
  }
  void* raw() noexcept { return ptr_; }
  const void* raw() const noexcept { return ptr_; }
  std::size_t size() const noexcept { return n_; }
  std::size_t bytes() const noexcept { return n_ * dtype_size(dtype_); }
  Dtype dtype() const noexcept { return dtype_; }
  bool empty() const noexcept { return ptr_ == nullptr; }
  bool owned() const noexcept { return owned_; }

 private:
  void* ptr_ = nullptr;
  std::size_t n_ = 0;
  Dtype dtype_ = Dtype::float32;
  bool owned_ = true;
};

// A kernel's scratch array of n T's from the pool (contents uninitialized unless zeroed):
// a Storage of T's dtype, seen as T.
template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t n) : storage_(dtype_of<T>(), n) {}
  static Buffer zeros(std::size_t n) {
    Buffer b;
    b.storage_ = Storage::zeros(dtype_of<T>(), n);
    return b;
  }
  T* data() noexcept { return storage_.data<T>(); }
  const T* data() const noexcept { return storage_.data<T>(); }
  std::size_t size() const noexcept { return storage_.size(); }
  bool empty() const noexcept { return storage_.empty(); }

 private:
  Storage storage_;
};

}  // namespace tg
