#pragma once
// The safetensors format (https://github.com/huggingface/safetensors), read and written
// without any dependency beyond nlohmann-json and zlib (both private to the library):
//
//   [8 bytes]  N, the header length, unsigned little-endian
//   [N bytes]  a JSON object, padded with spaces to a multiple of 8:
//                "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
//                "__metadata__": {"<key>": "<value>", ...}   (strings only)
//   [rest]     the data section: each tensor's values, row-major, little-endian, at
//              [begin, end) relative to the section's start; no gaps, no overlaps.
//
// Note [checkpoint CRCs]: the writer adds two metadata entries, so that a flipped bit anywhere
// in the file is detected while it stays a valid safetensors file:
//   "crc32":        CRC-32 (zlib) of the data section, 8 lowercase hex digits;
//   "header_crc32": CRC-32 of the file's first 8 + N bytes (length and header) with these 8
//                   digits written as "00000000".
// The reader verifies each one that is present (files from other writers have none); crc32
// without header_crc32 is an error (a flipped bit in that key's name).
//
// The reader never reads out of bounds and rejects, with a CheckpointError naming the file and
// the problem: a file shorter than 8 bytes or than its header, invalid JSON or UTF-8, a key given
// twice, a malformed entry, a dtype it does not read, a shape whose size disagrees with its
// byte range, offsets outside the data section, overlapping or leaving a gap, a CRC mismatch.
//
// Note [hostile files]: a crafted file (even one whose CRCs are right) cannot make the reader
// crash, hang, or allocate more than the file's own size plus its header's parse:
//   - the header length is checked against kSafetensorsMaxHeaderBytes and against the file's
//     real size before the header is allocated or read;
//   - parsing stops at the first container nested deeper than the format's three levels (top
//     object -> entry object -> shape or data_offsets array; an object inside an entry or
//     inside "__metadata__" counts as too deep), at an array of more than
//     kSafetensorsMaxRank elements, at an entry object with a fourth key, and once the header
//     holds more than kSafetensorsMaxEntries entries (tensors plus metadata entries), so
//     parsing is linear in the header's size (duplicate keys: a sorted set per object,
//     O(n log n)); memory stays a bounded multiple of the header: the JSON tree takes up to
//     ~15x the header's bytes (measured: 570,000 entries of 64-dimension shapes in a 100 MiB
//     header took 1.5 GB and ~18 s), which is why the caps are 16 MiB and 100,000 entries,
//     far above any checkpoint's header (a 2-layer LSTM's is ~3 KB, a 100,000-character
//     vocabulary adds ~0.7 MB) and low enough for ~250 MB and a few seconds at worst;
//   - load_safetensors opens without blocking (a FIFO is refused, never waited on), checks that
//     the path is a regular file, and reads the data section only after every entry and the
//     tiling were checked against the file's size; each tensor's values are read straight into
//     its array;
//   - std::bad_alloc while reading becomes an AllocationError (a std::bad_alloc) naming the
//     file, the tensor and the bytes it needed.
// Failures of the system rather than of the file's content (open, stat, read, write, fsync,
// rename; a missing or read-only folder, a full disk, a file-size limit; a path that is not a
// regular file) are FileIoError, a CheckpointError whose message names the file and the
// system's reason (strerror).
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <xtensor/xarray.hpp>

#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/autograd/named_tensors.hpp>

namespace tg {

// A file that cannot be read, written or trusted (std::runtime_error; the message names it).
// Thrown as is when the file's content is bad (corrupt, truncated, malformed, hostile, or not
// what the loader expects).
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An operating-system failure while reading or writing a file (open, stat, read, write, fsync,
// rename: a missing or read-only folder, a full disk, a file-size limit, a path that is not a
// regular file): the message names the file and the system's reason (strerror). A command-line
// tool can tell "fix your environment" (FileIoError) from "this file is bad" (CheckpointError).
class FileIoError : public CheckpointError {
 public:
  using CheckpointError::CheckpointError;
};

// Note [hostile files]: the reader's limits.
// The header (the JSON after the 8-byte length) may hold at most 16 MiB (the reference
// safetensors implementation allows 100 MiB, whose JSON tree can take 1.5 GB).
constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 16ull * 1024 * 1024;
// At most 100,000 entries: tensors plus "__metadata__" entries.
constexpr std::size_t kSafetensorsMaxEntries = 100000;
// At most 64 dimensions per shape (and 64 elements in any header array).
constexpr std::size_t kSafetensorsMaxRank = 64;

// The dtypes tapegrad reads and writes, by their safetensors names.
enum class StoredDtype { F32, F64, I64 };
const char* stored_dtype_name(StoredDtype dtype);  // "F32", "F64", "I64"
std::size_t stored_dtype_size(StoredDtype dtype);  // bytes per element
// float -> F32, double -> F64, std::int64_t -> I64
template <class T>
constexpr StoredDtype stored_dtype_of() {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value ||
                    std::is_same<T, std::int64_t>::value,
                "tapegrad stores float (F32), double (F64) and std::int64_t (I64)");
  if constexpr (std::is_same<T, float>::value) return StoredDtype::F32;
  else if constexpr (std::is_same<T, double>::value) return StoredDtype::F64;
  else return StoredDtype::I64;
}

// One tensor as stored: its dtype, shape and values (an owning copy).
class StoredTensor {
 public:
  using Value = std::variant<xt::xarray<float>, xt::xarray<double>, xt::xarray<std::int64_t>>;

  StoredTensor() = default;
  StoredTensor(xt::xarray<float> value) : value_(std::move(value)) {}  // NOLINT: implicit
  StoredTensor(xt::xarray<double> value) : value_(std::move(value)) {}  // NOLINT
  StoredTensor(xt::xarray<std::int64_t> value) : value_(std::move(value)) {}  // NOLINT
  StoredTensor(const Tensor& t);  // NOLINT: implicit; a copy in the tensor's dtype

  StoredDtype dtype() const;
  const Shape& shape() const;
  std::size_t numel() const;
  // The values as xt::xarray<T>; CheckpointError if the dtype is another one.
  template <class T> const xt::xarray<T>& get() const;
  const void* bytes() const;  // the values' bytes, numel() * stored_dtype_size(dtype())
  const Value& value() const { return value_; }

 private:
  Value value_;
};

using StoredTensors = std::vector<std::pair<std::string, StoredTensor>>;

struct SafetensorsFile {
  StoredTensors tensors;                        // in data-section order
  std::map<std::string, std::string> metadata;  // the whole "__metadata__" map, CRCs included

  bool contains(const std::string& name) const;
  // CheckpointError naming the tensor if the file has none of that name.
  const StoredTensor& at(const std::string& name) const;
};

// Writes `tensors` (in this order) and `metadata`, plus the two CRC entries (Note [checkpoint
// CRCs]). Atomic: the bytes go to a temporary file in the same folder, which is flushed and
// fsynced, then renamed over `path`, then the folder is fsynced; on any failure the temporary
// file is removed and an existing `path` is left as it was. A process killed mid-write leaves
// its temporary file; the first save to the same path by a later process removes it (Note
// [stale temporary files]).
// std::invalid_argument for an empty, duplicate or "__metadata__" tensor name, a metadata key
// "crc32" or "header_crc32", or text that is not valid UTF-8; FileIoError for I/O errors
// (the temporary file cannot be created, written (ENOSPC, EFBIG), fsynced or renamed).
void save_safetensors(const std::string& path, const StoredTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and validates a whole file (see the list above and Note [hostile files]): FileIoError
// when the path cannot be opened, is not a regular file, or a read fails; CheckpointError for
// bad content; AllocationError (a std::bad_alloc) naming the file when memory runs out.
SafetensorsFile load_safetensors(const std::string& path);
// The same checks on bytes in memory; `source` names them in error messages.
SafetensorsFile parse_safetensors(const void* data, std::size_t size, const std::string& source);


}  // namespace tg
