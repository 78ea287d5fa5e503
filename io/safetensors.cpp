#include <tapegrad/io/safetensors.hpp>

#include <tapegrad/autograd/number_text.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>
#include <zlib.h>

namespace tg {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; tapegrad copies it as is and needs a "
              "little-endian machine");
static_assert(std::is_same<xt::xarray<float>::shape_type, Shape>::value,
              "StoredTensor hands out xarray shapes as tg::Shape");

using json = nlohmann::json;

// ---- dtypes and StoredTensor ----

const char* stored_dtype_name(StoredDtype dtype) {
  switch (dtype) {
    case StoredDtype::F32: return "F32";
    case StoredDtype::F64: return "F64";
    case StoredDtype::I64: return "I64";
  }
  return "?";
}

std::size_t stored_dtype_size(StoredDtype dtype) {
  switch (dtype) {
    case StoredDtype::F32: return 4;
    case StoredDtype::F64: return 8;
    case StoredDtype::I64: return 8;
  }
  return 0;
}

StoredTensor::StoredTensor(const Tensor& t)
    : value_(visit_dtype(t.dtype(), [&](auto s) { return Value(t.to_xarray<decltype(s)>()); })) {}

StoredDtype StoredTensor::dtype() const { return static_cast<StoredDtype>(value_.index()); }

const Shape& StoredTensor::shape() const {
  return std::visit([](const auto& a) -> const Shape& { return a.shape(); }, value_);
}

std::size_t StoredTensor::numel() const {
  return std::visit([](const auto& a) { return a.size(); }, value_);
}

const void* StoredTensor::bytes() const {
  return std::visit([](const auto& a) -> const void* { return a.data(); }, value_);
}

template <class T>
const xt::xarray<T>& StoredTensor::get() const {
  if (const auto* a = std::get_if<xt::xarray<T>>(&value_)) return *a;
  throw CheckpointError(std::string("StoredTensor: the tensor holds ") + stored_dtype_name(dtype()) +
                        " values, not " + stored_dtype_name(stored_dtype_of<T>()));
}
template const xt::xarray<float>& StoredTensor::get<float>() const;
template const xt::xarray<double>& StoredTensor::get<double>() const;
template const xt::xarray<std::int64_t>& StoredTensor::get<std::int64_t>() const;

bool SafetensorsFile::contains(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return true;
  return false;
}

const StoredTensor& SafetensorsFile::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw CheckpointError("safetensors: the file holds no tensor named '" + name + "'");
}

namespace {

constexpr const char* kCrcKey = "crc32";
constexpr const char* kHeaderCrcKey = "header_crc32";
constexpr const char* kHeaderCrcNeedle = "\"header_crc32\":\"";  // as nlohmann dumps the entry

// zlib's crc32 takes 32-bit lengths: feed it in pieces.
std::uint32_t crc32_update(std::uint32_t crc, const void* data, std::size_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {
    const std::size_t piece = std::min<std::size_t>(n, 1u << 30);
    crc = static_cast<std::uint32_t>(::crc32(crc, p, static_cast<uInt>(piece)));
    p += piece;
    n -= piece;
  }
  return crc;
}

std::string crc_hex(std::uint32_t crc) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", crc);
  return buf;
}

// 8 lowercase hex digits exactly (an uppercase digit is a flipped bit, not another spelling).
bool parse_crc_hex(const std::string& s, std::uint32_t& out) {
  if (s.size() != 8) return false;
  out = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else
      return false;
    out = (out << 4) | std::uint32_t(d);
  }
  return true;
}

// Finds the 8 digits of "header_crc32" in the raw header: the needle must occur exactly once
// (it cannot occur inside a JSON string, where quotes are escaped).
std::size_t header_crc_digits(const std::string& header) {
  const std::size_t at = header.find(kHeaderCrcNeedle);
  if (at == std::string::npos || header.find(kHeaderCrcNeedle, at + 1) != std::string::npos)
    return std::string::npos;
  const std::size_t digits = at + std::strlen(kHeaderCrcNeedle);
  if (digits + 9 > header.size() || header[digits + 8] != '"') return std::string::npos;
  return digits;
}

std::string errno_text() { return std::strerror(errno); }

// ---- atomic file writing ----

struct Piece {
  const void* data;
  std::size_t size;
};

void write_all(int fd, const void* data, std::size_t n, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, std::min<std::size_t>(n, 1u << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw FileIoError(what + ": write failed: " + errno_text());
    if (w == 0) throw FileIoError(what + ": write failed: no byte was written (disk full?)");
    p += w;
    n -= std::size_t(w);
  }
}

// Note [stale temporary files]: a writer killed between creating its temporary file and the
// rename (SIGKILL, power loss) leaves "<target>.tmp.<pid>.<counter>.<clock>" behind; no handler
// can run. The first write to a target in a process removes such files whose writer process no
// longer exists on this machine, so repeated kills and resumes do not fill the folder. A file
// whose pid is alive (another writer, or a reused pid) is left alone.
bool names_dead_writers_temporary(const std::string& name, const std::string& prefix) {
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  const std::string rest = name.substr(prefix.size());  // "<pid>.<counter>.<clock>"
  int dots = 0;
  for (char c : rest) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') return false;
  }
  const std::size_t first_dot = rest.find('.');
  if (dots != 2 || first_dot == 0 || first_dot > 9 || rest.back() == '.') return false;
  const pid_t pid = static_cast<pid_t>(std::stol(rest.substr(0, first_dot)));
  return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
}

void remove_stale_temporaries(const std::filesystem::path& target) {
  namespace fs = std::filesystem;
  static std::mutex mutex;
  static std::set<std::string> cleaned;  // targets already swept by this process
  std::lock_guard<std::mutex> lock(mutex);
  if (!cleaned.insert(target.string()).second) return;
  const fs::path folder = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;  // best effort: a folder that cannot be listed is the write's to report
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    if (names_dead_writers_temporary(it->path().filename().string(), prefix)) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
}

// Note [atomic checkpoint write]: a crash at any moment leaves either the old file or the new
// one, never a mixture: the bytes go to a fresh temporary file in the target's folder (same
// file system, so rename is atomic), are fsynced, renamed over the target, and the folder is
// fsynced so the rename itself is durable.
void write_file_atomically(const std::string& path, const std::vector<Piece>& pieces) {
  namespace fs = std::filesystem;
  const std::string what = "safetensors file '" + path + "'";
  const fs::path target(path);
  const fs::path folder = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  remove_stale_temporaries(target);
  static std::atomic<unsigned long> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    const auto tick = std::chrono::steady_clock::now().time_since_epoch().count();
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++) + "." +
          std::to_string(static_cast<unsigned long long>(tick) % 1000000007ull);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST)
      throw FileIoError(what + ": cannot create the temporary file '" + tmp +
                            "': " + errno_text());
  }
  if (fd < 0) throw FileIoError(what + ": cannot find a free temporary file name: " + errno_text());
  try {
    for (const Piece& p : pieces) write_all(fd, p.data, p.size, what);
    if (::fsync(fd) != 0) throw FileIoError(what + ": fsync failed: " + errno_text());
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) throw FileIoError(what + ": close failed: " + errno_text());
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw FileIoError(what + ": cannot rename the temporary file over it: " + errno_text());
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    throw FileIoError(what + ": written, but its folder cannot be opened to fsync: " +
                          errno_text());
  const int synced = ::fsync(dir);
  ::close(dir);
  if (synced != 0)
    throw FileIoError(what + ": written, but fsync of its folder failed: " + errno_text());
}

// ---- reading ----

bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

struct Entry {
  std::string name;
  StoredDtype dtype;
  Shape shape;
  std::uint64_t begin, end;
};

}  // namespace

// ---- writing ----

void save_safetensors(const std::string& path, const StoredTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__")
      throw std::invalid_argument("save_safetensors: '" + name + "' cannot name a tensor");
    if (!names.insert(name).second)
      throw std::invalid_argument("save_safetensors: two tensors are called '" + name + "'");
  }
  for (const char* key : {kCrcKey, kHeaderCrcKey})
    if (metadata.count(key))
      throw std::invalid_argument(std::string("save_safetensors: the metadata key '") + key +
                                  "' is reserved (the writer fills it in)");

  json header = json::object();
  std::uint64_t offset = 0;
  std::uint32_t data_crc = static_cast<std::uint32_t>(::crc32(0L, Z_NULL, 0));
  std::vector<Piece> pieces(2);  // the length and the header come first
  for (const auto& [name, t] : tensors) {
    const std::size_t nbytes = t.numel() * stored_dtype_size(t.dtype());
    header[name] = {{"dtype", stored_dtype_name(t.dtype())},
                    {"shape", std::vector<std::size_t>(t.shape().begin(), t.shape().end())},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    if (nbytes) {
      data_crc = crc32_update(data_crc, t.bytes(), nbytes);
      pieces.push_back({t.bytes(), nbytes});
    }
  }
  json meta = json::object();
  for (const auto& [k, v] : metadata) meta[k] = v;
  meta[kCrcKey] = crc_hex(data_crc);
  meta[kHeaderCrcKey] = "00000000";
  header["__metadata__"] = meta;

  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    throw std::invalid_argument("save_safetensors: a tensor name or metadata entry is not valid "
                                "UTF-8 (" + std::string(e.what()) + ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // pad: the data section starts 8-aligned
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(std::uint64_t(text.size()) >> (8 * i));
  // Note [checkpoint CRCs]: the header CRC covers the length and the header, digits zeroed.
  const std::size_t digits = header_crc_digits(text);
  if (digits == std::string::npos)
    throw std::logic_error("save_safetensors: cannot locate the header CRC field");
  std::uint32_t header_crc = crc32_update(static_cast<std::uint32_t>(::crc32(0L, Z_NULL, 0)), length, 8);
  header_crc = crc32_update(header_crc, text.data(), text.size());
  text.replace(digits, 8, crc_hex(header_crc));

  pieces[0] = {length, 8};
  pieces[1] = {text.data(), text.size()};
  write_file_atomically(path, pieces);
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  StoredTensors stored;
  stored.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    if (!t.defined())
      throw std::invalid_argument("save_safetensors: tensor '" + name + "' is undefined");
    stored.emplace_back(name, StoredTensor(t));
  }
  save_safetensors(path, stored, metadata);
}


// ---- reading ----
//
// parse_safetensors and load_safetensors run the same steps: read_header_length,
// parse_header_json, read_metadata, verify_header_crc, parse_entries, check_tiling, then
// verify_data_crc and read_tensors.

namespace {

// Every reading step reports through this: "safetensors file '<source>': <what>".
struct Source {
  std::string who;
  explicit Source(const std::string& name) : who("safetensors file '" + name + "'") {}
  CheckpointError fail(const std::string& what) const { return CheckpointError(who + ": " + what); }
};

// The first 8 bytes: the header length, checked against the `size` bytes the file has.
std::uint64_t read_header_length(const unsigned char* bytes, std::uint64_t size, const Source& src) {
  if (size < 8)
    throw src.fail("it is " + std::to_string(size) + " bytes long, shorter than the 8-byte header "
                   "length (truncated, or not a safetensors file)");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > kSafetensorsMaxHeaderBytes)
    throw src.fail("the header length " + std::to_string(n) + " exceeds the limit of " +
                   std::to_string(kSafetensorsMaxHeaderBytes) + " bytes (corrupt, or not a "
                   "safetensors file)");
  if (n > size - 8)
    throw src.fail("the header length " + std::to_string(n) + " exceeds the " +
                   std::to_string(size - 8) + " bytes after it (truncated, or not a safetensors file)");
  return n;
}

// Note [hostile files]: builds the header's DOM through nlohmann's plain SAX DOM builder (its
// callback parser scans an object's members at the end of each member object: quadratic in
// the number of entries) and stops it (HeaderRefused) at the first key given twice in an
// object (nlohmann would keep the last silently), container nested deeper than the format
// needs, array longer than any shape, or entry past the limits. Each open object keeps its keys
// in a std::set: n keys cost O(n log n).
struct HeaderRefused {
  std::string what;
};

class GuardedDomParser {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  explicit GuardedDomParser(json& result) : dom_(result) {}

  bool null() { return element() && dom_.null(); }
  bool boolean(bool v) { return element() && dom_.boolean(v); }
  bool number_integer(number_integer_t v) { return element() && dom_.number_integer(v); }
  bool number_unsigned(number_unsigned_t v) { return element() && dom_.number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& s) { return element() && dom_.number_float(v, s); }
  bool string(string_t& v) { return element() && dom_.string(v); }
  bool binary(binary_t& v) { return element() && dom_.binary(v); }
  bool start_object(std::size_t n) { return open(false) && dom_.start_object(n); }
  bool end_object() { return close() && dom_.end_object(); }
  bool start_array(std::size_t n) { return open(true) && dom_.start_array(n); }
  bool end_array() { return close() && dom_.end_array(); }
  bool key(string_t& k) {
    // depth 1: a tensor or "__metadata__"; 2: a field of an entry, or a metadata entry.
    const std::size_t depth = open_.size();
    if (!open_.back().keys.insert(k).second)
      throw HeaderRefused{"the header has the key '" + quote_input(k) + "' twice"};
    if (depth == 1) top_key_ = k;
    if ((depth == 1 && k != "__metadata__") || (depth == 2 && in_metadata_)) count_entry();
    if (depth == 2 && !in_metadata_ && open_.back().keys.size() > 3)
      throw HeaderRefused{"tensor '" + quote_input(top_key_) + "': the entry must be an object "
                          "with exactly dtype, shape and data_offsets"};
    return dom_.key(k);
  }
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& e) {
    return dom_.parse_error(position, token, e);
  }

 private:
  struct Open {
    bool array;
    std::size_t elements;
    std::set<std::string> keys;
  };
  bool element() {
    if (!open_.empty() && open_.back().array && ++open_.back().elements > kSafetensorsMaxRank)
      throw HeaderRefused{"an array in the header holds more than " +
                          std::to_string(kSafetensorsMaxRank) + " elements (the most dimensions "
                          "a shape may have)"};
    return true;
  }
  bool open(bool array) {
    element();
    // depth 0: the header; 1: an entry or __metadata__; 2: a shape or data_offsets array.
    if (open_.size() >= 3)
      throw HeaderRefused{"the header nests deeper than the format's three levels (header "
                          "object, entry object, shape array)"};
    // Objects only at depths 0 and 1: an object's keys below are neither counted nor needed.
    if (!array && open_.size() == 2)
      throw HeaderRefused{"the header nests deeper than the format allows: an object inside "
                          "an entry (entries hold strings and arrays of whole numbers)"};
    if (open_.size() == 1) in_metadata_ = top_key_ == "__metadata__";
    open_.push_back(Open{array, 0, {}});
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }
  void count_entry() {
    if (++entries_ > kSafetensorsMaxEntries)
      throw HeaderRefused{"the header holds more than " + std::to_string(kSafetensorsMaxEntries) +
                          " entries (tensors plus metadata entries), the limit"};
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::vector<Open> open_;
  std::string top_key_;
  bool in_metadata_ = false;
  std::size_t entries_ = 0;
};

json parse_header_json(const std::string& header_text, const Source& src) {
  json header;
  try {
    GuardedDomParser sax(header);
    json::sax_parse(header_text, &sax);
  } catch (const HeaderRefused& e) {
    throw src.fail(e.what);
  } catch (const json::exception& e) {
    throw src.fail("the header is not valid JSON (" + quote_input(e.what(), 200) + ")");
  }
  if (!header.is_object()) throw src.fail("the header is not a JSON object");
  return header;
}

// The "__metadata__" object: strings only.
std::map<std::string, std::string> read_metadata(const json& header, const Source& src) {
  std::map<std::string, std::string> metadata;
  const auto it = header.find("__metadata__");
  if (it == header.end()) return metadata;
  if (!it->is_object()) throw src.fail("__metadata__ is not an object");
  for (auto m = it->begin(); m != it->end(); ++m) {
    if (!m.value().is_string()) throw src.fail("__metadata__ entry '" + quote_input(m.key()) + "' is not a string");
    metadata[m.key()] = m.value().get<std::string>();
  }
  return metadata;
}

// Note [checkpoint CRCs]: the header first, so a damaged header is reported as one. The
// writer puts both entries; crc32 without header_crc32 means a bit flipped in the latter's key.
void verify_header_crc(const unsigned char* length, const std::string& header_text,
                       const std::map<std::string, std::string>& metadata, const Source& src) {
  const auto hcrc = metadata.find(kHeaderCrcKey);
  if (hcrc == metadata.end() && metadata.count(kCrcKey))
    throw src.fail("the metadata has a crc32 entry but no header_crc32 entry (corrupt header)");
  if (hcrc == metadata.end()) return;
  std::uint32_t stored;
  if (!parse_crc_hex(hcrc->second, stored))
    throw src.fail("the header_crc32 entry '" + quote_input(hcrc->second) + "' is not 8 lowercase hex digits");
  const std::size_t digits = header_crc_digits(header_text);
  if (digits == std::string::npos)
    throw src.fail("the header_crc32 entry is not written as this reader expects (corrupt header)");
  std::uint32_t actual = crc32_update(static_cast<std::uint32_t>(::crc32(0L, Z_NULL, 0)), length, 8);
  actual = crc32_update(actual, header_text.data(), digits);
  actual = crc32_update(actual, "00000000", 8);
  actual = crc32_update(actual, header_text.data() + digits + 8, header_text.size() - digits - 8);
  if (actual != stored)
    throw src.fail("CRC mismatch in the header: stored " + quote_input(hcrc->second) + ", computed " +
                   crc_hex(actual) + " (the file is corrupt)");
}

StoredDtype parse_dtype(const json& dt, const std::string& tensor, const Source& src) {
  if (!dt.is_string()) throw src.fail(tensor + ": dtype is not a string");
  const std::string d = dt.get<std::string>();
  if (d == "F32") return StoredDtype::F32;
  if (d == "F64") return StoredDtype::F64;
  if (d == "I64") return StoredDtype::I64;
  throw src.fail(tensor + ": unsupported dtype '" + quote_input(d) + "' (tapegrad reads F32, F64 and I64)");
}

// One tensor's entry: its dtype, shape and byte range, consistent with each other and inside
// the `section_size`-byte data section.
Entry parse_entry(const std::string& name, const json& v, std::uint64_t section_size,
                  const Source& src) {
  const std::string tensor = "tensor '" + quote_input(name) + "'";
  if (!v.is_object() || v.size() != 3 || !v.contains("dtype") || !v.contains("shape") ||
      !v.contains("data_offsets"))
    throw src.fail(tensor + ": the entry must be an object with exactly dtype, shape and "
                   "data_offsets");
  Entry e;
  e.name = name;
  e.dtype = parse_dtype(v["dtype"], tensor, src);
  const json& sh = v["shape"];
  if (!sh.is_array()) throw src.fail(tensor + ": shape is not an array");
  std::uint64_t numel = 1;
  for (const json& dim : sh) {
    if (!dim.is_number_unsigned())
      throw src.fail(tensor + ": shape holds something other than a whole number >= 0");
    const std::uint64_t k = dim.get<std::uint64_t>();
    if (!checked_mul(numel, k, numel)) throw src.fail(tensor + ": its shape overflows");
    e.shape.push_back(std::size_t(k));
  }
  const json& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned())
    throw src.fail(tensor + ": data_offsets must be two whole numbers [begin, end]");
  e.begin = off[0].get<std::uint64_t>();
  e.end = off[1].get<std::uint64_t>();
  const std::string range = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  std::uint64_t nbytes = 0;
  if (!checked_mul(numel, stored_dtype_size(e.dtype), nbytes)) throw src.fail(tensor + ": its shape overflows");
  if (e.end < e.begin) throw src.fail(tensor + ": " + range + " end before they begin");
  if (e.end - e.begin != nbytes)
    throw src.fail(tensor + ": shape " + to_string(e.shape) + " of " + stored_dtype_name(e.dtype) +
                   " needs " + std::to_string(nbytes) + " bytes but " + range + " hold " +
                   std::to_string(e.end - e.begin));
  if (e.end > section_size)
    throw src.fail(tensor + ": " + range + " go past the " + std::to_string(section_size) +
                   "-byte data section (truncated or corrupt)");
  return e;
}

std::vector<Entry> parse_entries(const json& header, std::uint64_t section_size, const Source& src) {
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it)
    if (it.key() != "__metadata__") entries.push_back(parse_entry(it.key(), it.value(), section_size, src));
  return entries;
}

// The tensors must tile the data section exactly: no gap, no overlap, nothing left over.
// Sorts `entries` into data-section order.
void check_tiling(std::vector<Entry>& entries, std::uint64_t section_size, const Source& src) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  for (const Entry& e : entries) {
    if (e.begin < covered) throw src.fail("tensor '" + quote_input(e.name) + "' overlaps the tensor before it");
    if (e.begin > covered)
      throw src.fail("the data section has a gap at bytes [" + std::to_string(covered) + ", " +
                     std::to_string(e.begin) + ") before tensor '" + quote_input(e.name) + "'");
    covered = e.end;
  }
  if (covered != section_size)
    throw src.fail("the data section has " + std::to_string(section_size) + " bytes but the "
                   "tensors cover " + std::to_string(covered) +
                   " (corrupt header length or trailing bytes)");
}

// A checked header: the metadata and the entries in data-section order.
struct Header {
  std::map<std::string, std::string> metadata;
  std::vector<Entry> entries;
};

// Every check of the length and header, given the `section_size` bytes that follow them.
Header read_header(const unsigned char* length, const std::string& header_text,
                   std::uint64_t section_size, const Source& src) {
  const json header = parse_header_json(header_text, src);
  Header h;
  h.metadata = read_metadata(header, src);
  verify_header_crc(length, header_text, h.metadata, src);
  h.entries = parse_entries(header, section_size, src);
  check_tiling(h.entries, section_size, src);
  return h;
}

void verify_data_crc(const std::map<std::string, std::string>& metadata, std::uint32_t actual,
                     const Source& src) {
  const auto crc = metadata.find(kCrcKey);
  if (crc == metadata.end()) return;
  std::uint32_t stored;
  if (!parse_crc_hex(crc->second, stored))
    throw src.fail("the crc32 entry '" + quote_input(crc->second) + "' is not 8 lowercase hex digits");
  if (actual != stored)
    throw src.fail("CRC mismatch in the data section: stored " + quote_input(crc->second) + ", computed " +
                   crc_hex(actual) + " (the file is corrupt)");
}

// Running out of memory is the machine's limit, not the file's fault: an AllocationError (a
// std::bad_alloc) naming the file, what was being read and its size.
AllocationError out_of_memory(const Source& src, const std::string& what, std::uint64_t bytes) {
  return AllocationError(src.fail("out of memory: " + what + " needs " + std::to_string(bytes) + " bytes").what());
}

template <class T, class Fill>
StoredTensor read_values(const Entry& e, const Source& src, Fill& fill) {
  xt::xarray<T> a;
  try {
    a = xt::xarray<T>::from_shape(e.shape);
  } catch (const std::bad_alloc&) {
    throw out_of_memory(src, "tensor '" + quote_input(e.name) + "'", e.end - e.begin);
  }
  if (a.size()) fill(static_cast<void*>(a.data()), a.size() * sizeof(T));
  return StoredTensor(std::move(a));
}

// The tensors' values, in data-section order (entries checked and sorted by read_header):
// fill(dst, n) copies the next n bytes of the data section to dst.
template <class Fill>
StoredTensors read_tensors(const std::vector<Entry>& entries, const Source& src, Fill fill) {
  StoredTensors tensors;
  tensors.reserve(entries.size());
  for (const Entry& e : entries) {
    switch (e.dtype) {
      case StoredDtype::F32: tensors.emplace_back(e.name, read_values<float>(e, src, fill)); break;
      case StoredDtype::F64: tensors.emplace_back(e.name, read_values<double>(e, src, fill)); break;
      case StoredDtype::I64: tensors.emplace_back(e.name, read_values<std::int64_t>(e, src, fill)); break;
    }
  }
  return tensors;
}

constexpr std::uint32_t kCrcStart = 0;  // ::crc32(0L, Z_NULL, 0)

// ---- the file: opened without blocking, read in steps ----

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a plain file";
}

// Opens `path` for reading without blocking (a plain open of a FIFO waits for a writer) and
// returns its size; FileIoError unless it is a regular file.
std::uint64_t open_regular(const std::string& path, Fd& fd, const Source& src) {
  fd.fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd.fd < 0) throw FileIoError(src.who + ": cannot open it: " + errno_text());
  struct stat st;
  if (::fstat(fd.fd, &st) != 0) throw FileIoError(src.who + ": cannot stat it: " + errno_text());
  if (!S_ISREG(st.st_mode))
    throw FileIoError(src.who + ": not a regular file (" + file_kind(st.st_mode) + ")");
  const int flags = ::fcntl(fd.fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd.fd, F_SETFL, flags & ~O_NONBLOCK);
  return std::uint64_t(st.st_size);
}

// Exactly n bytes from the current position; FileIoError on a read error or an early end.
void read_exact(int fd, void* dst, std::size_t n, const Source& src) {
  auto* p = static_cast<unsigned char*>(dst);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, std::min<std::size_t>(n, 1u << 30));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw FileIoError(src.who + ": read failed: " + errno_text());
    if (r == 0) throw FileIoError(src.who + ": it ended early while being read (was it shortened?)");
    p += r;
    n -= std::size_t(r);
  }
}

}  // namespace

namespace {

// The header text (from read_text), then the tensors, each copied by copy(dst, nbytes) from the
// next bytes of the data section, then the data CRC over what was copied. Running out of memory
// on the way is an AllocationError naming the file.
template <class ReadText, class Copy>
SafetensorsFile read_checked(const unsigned char* length, std::uint64_t n, std::uint64_t size, const Source& src,
                             ReadText&& read_text, Copy&& copy) {
  try {
    const std::string header_text = read_text();
    Header h = read_header(length, header_text, size - 8 - n, src);
    std::uint32_t crc = kCrcStart;
    SafetensorsFile file;
    file.tensors = read_tensors(h.entries, src, [&](void* dst, std::size_t nbytes) {
      copy(dst, nbytes);
      crc = crc32_update(crc, dst, nbytes);
    });
    verify_data_crc(h.metadata, crc, src);
    file.metadata = std::move(h.metadata);
    return file;
  } catch (const AllocationError&) {
    throw;  // names the tensor already
  } catch (const std::bad_alloc&) {
    throw out_of_memory(src, "reading it (" + std::to_string(n) + " header bytes)", size);
  }
}

}  // namespace

SafetensorsFile parse_safetensors(const void* data, std::size_t size, const std::string& source) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  const Source src(source);
  const std::uint64_t n = read_header_length(bytes, size, src);
  const unsigned char* next = bytes + 8 + n;
  return read_checked(
      bytes, n, size, src, [&] { return std::string(reinterpret_cast<const char*>(bytes + 8), std::size_t(n)); },
      [&](void* dst, std::size_t nbytes) {
        std::memcpy(dst, next, nbytes);
        next += nbytes;
      });
}

// Note [hostile files]: the length, then the header, are checked against the file's real size
// before either is read; the data section is read only once its layout is known to be sound.
SafetensorsFile load_safetensors(const std::string& path) {
  const Source src(path);
  Fd fd;
  const std::uint64_t size = open_regular(path, fd, src);
  unsigned char length[8] = {};
  read_exact(fd.fd, length, std::size_t(std::min<std::uint64_t>(size, 8)), src);
  const std::uint64_t n = read_header_length(length, size, src);
  return read_checked(
      length, n, size, src,
      [&] {
        std::string text(std::size_t(n), '\0');
        read_exact(fd.fd, text.data(), text.size(), src);
        return text;
      },
      [&](void* dst, std::size_t nbytes) { read_exact(fd.fd, dst, nbytes, src); });
}

}  // namespace tg
