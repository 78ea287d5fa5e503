// The safetensors reader and writer (io/safetensors): bit-exact round trips, the byte layout
// checked by an independent parse (nlohmann-json + zlib here), files from other writers, every
// truncation and every single-bit flip rejected, malformed headers, and the atomic write.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include "hostile_files.hpp"
#include "temp_files.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using tgtest::Bytes;
using tgtest::read_bytes;
using tgtest::TempDir;
using tgtest::write_bytes;

namespace {

// tgtest::layout with its "header_crc32":"00000000" entry filled in as the writer would.
Bytes signed_file(const std::string& header, const Bytes& data) {
  Bytes out = tgtest::layout(header, data);
  const std::string text(out.begin(), out.begin() + 8 + std::ptrdiff_t(header.size()));
  const std::size_t at = text.find("\"header_crc32\":\"00000000\"");
  REQUIRE(at != std::string::npos);
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08lx", ::crc32(0L, out.data(), uInt(text.size())));
  std::memcpy(out.data() + at + 16, hex, 8);
  return out;
}

Bytes float_bytes(std::vector<float> v) {
  Bytes out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

template <class A>
Bytes bits(const A& a) {
  const auto* p = reinterpret_cast<const unsigned char*>(a.data());
  return Bytes(p, p + a.size() * sizeof(typename A::value_type));
}

// The message parse_safetensors throws for these bytes, or "(accepted)".
std::string rejection(const Bytes& bytes) {
  try {
    tg::parse_safetensors(bytes.data(), bytes.size(), "test.safetensors");
  } catch (const tg::CheckpointError& e) {
    return e.what();
  }
  return "(accepted)";
}

tg::StoredTensors sample_tensors() {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  return {{"embed.weight", xt::xarray<float>{{1.5f, -0.0f, nan}, {1e-40f, 3.4e38f, -2.0f}}},
          {"rnn.bias_hh_l0", xt::xarray<double>{0.1, -inf, 1e-310}},
          {"cursor", xt::xarray<std::int64_t>{std::int64_t(1) << 40, -7}},
          {"scalar", xt::xarray<double>(3.25)},                    // 0-d
          {"empty", xt::xarray<float>::from_shape({0, 4})}};       // no elements
}

}  // namespace

TEST_CASE("round trip: F32, F64, I64, 0-d and empty tensors and metadata come back bit-exact") {
  TempDir dir;
  const std::string path = dir.file("a.safetensors");
  const auto tensors = sample_tensors();
  const std::map<std::string, std::string> meta = {
      {"cell", "lstm"}, {"vocab", "héllo \"wörld\"\n한국어"}, {"lr", "0.002"}};
  tg::save_safetensors(path, tensors, meta);
  CHECK(dir.entries() == 1);  // no temporary file left behind

  const tg::SafetensorsFile f = tg::load_safetensors(path);
  REQUIRE(f.tensors.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    CAPTURE(name);
    REQUIRE(f.contains(name));
    const tg::StoredTensor& got = f.at(name);
    CHECK(got.dtype() == t.dtype());
    CHECK(got.shape() == t.shape());
    const auto* a = static_cast<const unsigned char*>(got.bytes());
    const auto* b = static_cast<const unsigned char*>(t.bytes());
    CHECK(Bytes(a, a + got.numel() * tg::stored_dtype_size(got.dtype())) ==
          Bytes(b, b + t.numel() * tg::stored_dtype_size(t.dtype())));
  }
  CHECK(f.at("scalar").shape().empty());
  CHECK(f.at("scalar").get<double>()() == 3.25);
  CHECK(f.at("cursor").get<std::int64_t>()(0) == std::int64_t(1) << 40);
  for (const auto& [k, v] : meta) CHECK(f.metadata.at(k) == v);
  CHECK(f.metadata.size() == meta.size() + 2);  // + crc32, header_crc32

  // From tapegrad tensors directly, in both scalar types.
  tg::Tensor w = tg::Tensor::param(tg::randn<float>({3, 2}));
  tg::save_safetensors(path, tg::NamedTensors{{"w", w}});
  CHECK(bits(tg::load_safetensors(path).at("w").get<float>()) == bits(w.value<float>()));
  tg::Tensor d = tg::Tensor::constant(tg::randn<double>({4}));
  tg::save_safetensors(path, tg::NamedTensors{{"d", d}}, {{"k", "v"}});
  CHECK(bits(tg::load_safetensors(path).at("d").get<double>()) == bits(d.value<double>()));
}

TEST_CASE("layout: the spec's bytes, checked by an independent parse and zlib") {
  TempDir dir;
  const std::string path = dir.file("layout.safetensors");
  tg::save_safetensors(path, sample_tensors(), {{"note", "x"}});
  const Bytes file = read_bytes(path);

  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(file[i]) << (8 * i);  // little-endian
  REQUIRE(8 + n <= file.size());
  CHECK(n % 8 == 0);  // the data section starts 8-aligned
  const std::string header(file.begin() + 8, file.begin() + 8 + std::ptrdiff_t(n));
  CHECK(header.front() == '{');
  const std::size_t close = header.rfind('}');
  CHECK(header.find_first_not_of(' ', close + 1) == std::string::npos);  // padded with spaces
  CHECK(header.size() - close - 1 < 8);
  const auto j = nlohmann::json::parse(header);
  const Bytes data(file.begin() + 8 + std::ptrdiff_t(n), file.end());

  // Every tensor: dtype, shape, and offsets that tile the data section in order.
  std::uint64_t at = 0;
  for (const auto& [name, t] : sample_tensors()) {
    CAPTURE(name);
    const auto& e = j.at(name);
    CHECK(e.at("dtype") == tg::stored_dtype_name(t.dtype()));
    CHECK(e.at("shape").get<std::vector<std::size_t>>() ==
          std::vector<std::size_t>(t.shape().begin(), t.shape().end()));
    const auto off = e.at("data_offsets").get<std::vector<std::uint64_t>>();
    CHECK(off[0] == at);
    CHECK(off[1] - off[0] == t.numel() * tg::stored_dtype_size(t.dtype()));
    if (off[1] > off[0]) CHECK(std::memcmp(data.data() + off[0], t.bytes(), off[1] - off[0]) == 0);
    at = off[1];
  }
  CHECK(at == data.size());

  // crc32 = zlib CRC-32 of the data section; header_crc32 = CRC-32 of length + header with
  // its own 8 digits written as zeros.
  const auto& meta = j.at("__metadata__");
  CHECK(meta.at("note") == "x");
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08lx", ::crc32(0L, data.data(), uInt(data.size())));
  CHECK(meta.at("crc32") == std::string(hex));
  std::string zeroed(file.begin(), file.begin() + 8 + std::ptrdiff_t(n));
  const std::size_t digits = zeroed.find("\"header_crc32\":\"") + 16;
  zeroed.replace(digits, 8, "00000000");
  std::snprintf(hex, sizeof hex, "%08lx",
                ::crc32(0L, reinterpret_cast<const Bytef*>(zeroed.data()), uInt(zeroed.size())));
  CHECK(meta.at("header_crc32") == std::string(hex));
}

TEST_CASE("files from other writers: no CRC entries, any order, still read") {
  // b's bytes come first in the data section although a is first in the header.
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},)"
      R"("b":{"shape":[],"data_offsets":[0,4],"dtype":"F32"},"__metadata__":{"format":"pt"}})";
  const tg::SafetensorsFile f =
      tg::parse_safetensors(tgtest::layout(header, float_bytes({7.0f, 1.0f, 2.0f})).data(),
                            8 + header.size() + 12, "other");
  CHECK(f.tensors[0].first == "b");  // data-section order
  CHECK(f.at("b").get<float>()() == 7.0f);
  CHECK(f.at("a").get<float>()(1) == 2.0f);
  CHECK(f.metadata.at("format") == "pt");
  // An empty file list is a valid file too.
  CHECK(tg::parse_safetensors(tgtest::layout("{}      ", {}).data(), 16, "empty").tensors.empty());
}

TEST_CASE("truncation: a file cut at every byte offset is rejected, never read out of bounds") {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  tg::save_safetensors(path, sample_tensors(), {{"k", "v"}});
  const Bytes whole = read_bytes(path);
  for (std::size_t len = 0; len < whole.size(); ++len) {
    CAPTURE(len);
    const Bytes cut(whole.begin(), whole.begin() + std::ptrdiff_t(len));  // exactly len bytes
    const std::string msg = rejection(cut);
    CHECK(msg.find("safetensors file 'test.safetensors': ") == 0);
    write_bytes(path, cut);
    CHECK_THROWS_AS(tg::load_safetensors(path), tg::CheckpointError);
  }
  write_bytes(path, whole);
  CHECK_NOTHROW(tg::load_safetensors(path));
  CHECK(rejection(Bytes(whole.begin(), whole.begin() + 5)).find("shorter than the 8-byte header length") !=
        std::string::npos);
  CHECK(rejection(Bytes(whole.begin(), whole.begin() + 40)).find("exceeds") != std::string::npos);
  CHECK(rejection(Bytes(whole.begin(), whole.end() - 1)).find("truncated") != std::string::npos);
}

TEST_CASE("bit flips: every single-bit flip anywhere in the file is detected") {
  TempDir dir;
  const std::string path = dir.file("f.safetensors");
  tg::save_safetensors(path, sample_tensors(), {{"lr", "0.002"}});
  const Bytes whole = read_bytes(path);
  std::size_t crc_data = 0, crc_header = 0;
  for (std::size_t bit = 0; bit < whole.size() * 8; ++bit) {
    Bytes flipped = whole;
    flipped[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
    const std::string msg = rejection(flipped);
    if (msg == "(accepted)") {
      CAPTURE(bit);
      FAIL("a flipped bit went undetected");
    }
    crc_data += msg.find("CRC mismatch in the data section") != std::string::npos;
    crc_header += msg.find("CRC mismatch in the header") != std::string::npos;
  }
  MESSAGE(whole.size() * 8 << " flips; data CRC caught " << crc_data << ", header CRC " << crc_header);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(whole[i]) << (8 * i);
  CHECK(crc_data == (whole.size() - 8 - n) * 8);  // every data bit, by the data CRC
  CHECK(crc_header > 0);
}

TEST_CASE("malformed headers: each is rejected with a message naming the problem") {
  const std::string f32 = R"("dtype":"F32")";
  struct Case {
    std::string header;
    std::size_t data;
    std::string words;
  };
  const std::vector<Case> cases = {
      {R"({"a":)", 0, "not valid JSON"},
      {"[1, 2]", 0, "not a JSON object"},
      {"{\"a\xff\":{}}", 0, "not valid JSON"},
      {R"({"a":{)" + f32 + R"(,"shape":[1],"data_offsets":[0,4]},"a":{)" + f32 +
           R"(,"shape":[1],"data_offsets":[4,8]}})", 8, "the key 'a' twice"},
      {R"({"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", 2, "unsupported dtype 'F16'"},
      {R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 4, "dtype is not a string"},
      {R"({"a":{)" + f32 + R"(,"shape":[-1],"data_offsets":[0,4]}})", 4, "whole number >= 0"},
      {R"({"a":{)" + f32 + R"(,"shape":[1.0],"data_offsets":[0,4]}})", 4, "whole number >= 0"},
      {R"({"a":{)" + f32 + R"(,"shape":4,"data_offsets":[0,4]}})", 4, "shape is not an array"},
      {R"({"a":{)" + f32 + R"(,"shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", 4, "overflows"},
      {R"({"a":{)" + f32 + R"(,"shape":[2],"data_offsets":[0,4]}})", 4, "needs 8 bytes but data_offsets [0, 4] hold 4"},
      {R"({"a":{)" + f32 + R"(,"shape":[1],"data_offsets":[4,0]}})", 4, "end before they begin"},
      {R"({"a":{)" + f32 + R"(,"shape":[1],"data_offsets":[0]}})", 4, "two whole numbers"},
      {R"({"a":{)" + f32 + R"(,"shape":[2],"data_offsets":[0,8]}})", 4, "go past the 4-byte data section"},
      {R"({"a":{)" + f32 + R"(,"shape":[2],"data_offsets":[0,8]},"b":{)" + f32 +
           R"(,"shape":[2],"data_offsets":[4,12]}})", 12, "overlaps"},
      {R"({"a":{)" + f32 + R"(,"shape":[1],"data_offsets":[0,4]},"b":{)" + f32 +
           R"(,"shape":[1],"data_offsets":[8,12]}})", 12, "gap at bytes [4, 8)"},
      {R"({"a":{)" + f32 + R"(,"shape":[1],"data_offsets":[0,4]}})", 8, "has 8 bytes but the tensors cover 4"},
      {R"({"a":{)" + f32 + R"(,"shape":[1],"data_offsets":[0,4],"x":1}})", 4, "exactly dtype, shape and data_offsets"},
      {R"({"a":[1]})", 4, "exactly dtype, shape and data_offsets"},
      {R"({"__metadata__":{"k":1}})", 0, "__metadata__ entry 'k' is not a string"},
      {R"({"__metadata__":"x"})", 0, "__metadata__ is not an object"},
      {R"({"__metadata__":{"crc32":"00000000","header_crc32":"0000000A"}})", 0, "not 8 lowercase hex digits"},
      {R"({"__metadata__":{"crc32":"12345678"}})", 0, "a crc32 entry but no header_crc32"},
      {R"({"__metadata__":{"header_crc32":"12345678"}})", 0, "CRC mismatch in the header"},
      {R"({"__metadata__":{"header_crc32" : "12345678"}})", 0, "not written as this reader expects"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.header);
    const std::string msg = rejection(tgtest::layout(c.header, Bytes(c.data, 0)));
    CHECK_MESSAGE(msg.find(c.words) != std::string::npos, msg);
    CHECK(msg.find("safetensors file 'test.safetensors': ") == 0);
  }
  // With a valid header CRC: the data CRC's own checks.
  CHECK(rejection(signed_file(R"({"__metadata__":{"crc32":"XYZ","header_crc32":"00000000"}})", {}))
            .find("the crc32 entry 'XYZ' is not 8 lowercase hex digits") != std::string::npos);
  CHECK(rejection(signed_file(R"({"__metadata__":{"crc32":"0000000A","header_crc32":"00000000"}})", {}))
            .find("not 8 lowercase hex digits") != std::string::npos);
  CHECK(rejection(signed_file(R"({"__metadata__":{"crc32":"12345678","header_crc32":"00000000"}})", {}))
            .find("CRC mismatch in the data section: stored 12345678, computed 00000000") != std::string::npos);
  CHECK(rejection(signed_file(R"({"__metadata__":{"crc32":"00000000","header_crc32":"00000000"}})", {})) ==
        "(accepted)");
  // A length field larger than the file.
  CHECK(rejection(tgtest::layout("{}", {}, 1000)).find("header length 1000 exceeds the 2 bytes after it") !=
        std::string::npos);
  CHECK(rejection(tgtest::layout("{}", {}, ~0ull - 1)).find("exceeds") != std::string::npos);
}

TEST_CASE("load_safetensors: a missing file, a folder, a FIFO or a path under a file is a FileIoError") {
  TempDir dir;
  CHECK_THROWS_WITH_AS(tg::load_safetensors(dir.file("nope.safetensors")),
                       ("safetensors file '" + dir.file("nope.safetensors") +
                        "': cannot open it: No such file or directory").c_str(),
                       tg::FileIoError);
  CHECK_THROWS_WITH_AS(tg::load_safetensors(dir.path().string()),
                       ("safetensors file '" + dir.path().string() + "': not a regular file (a directory)").c_str(),
                       tg::FileIoError);
  tgtest::write_text(dir.file("plain"), "x");
  CHECK_THROWS_WITH_AS(tg::load_safetensors(dir.file("plain") + "/x.safetensors"),
                       doctest::Contains("cannot open it: Not a directory"), tg::FileIoError);
  // A FIFO with no writer: a plain open() would wait forever; the reader refuses it at once.
  const std::string fifo = dir.file("fifo.safetensors");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto start = std::chrono::steady_clock::now();
  const tgtest::ChildResult r = tgtest::in_child([&](const auto& say) {
    try {
      tg::load_safetensors(fifo);
    } catch (const tg::FileIoError& e) {
      say(e.what());
      return 0;
    }
    return 1;
  }, 5);
  MESSAGE(r.message << " (" << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s)");
  CHECK(r.code == 0);  // -14 (SIGALRM) when it hung
  CHECK(r.message == "safetensors file '" + fifo + "': not a regular file (a FIFO)");
  // FileIoError is a CheckpointError: callers that catch the latter catch both.
  CHECK_THROWS_AS(tg::load_safetensors(fifo), tg::CheckpointError);
}

TEST_CASE("save: atomic, a failed write leaves the old file intact and no temporary file") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  tg::save_safetensors(path, tg::StoredTensors{{"old", xt::xarray<float>{1.0f}}});
  const Bytes old = read_bytes(path);

  // The write itself fails: a file-size limit below the new file's size (EFBIG), set in a child
  // (RLIMIT_FSIZE binds root too) with SIGXFSZ ignored so write() returns the error.
  const tgtest::ChildResult r = tgtest::in_child([&](const auto& say) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small;
    if (::getrlimit(RLIMIT_FSIZE, &small) != 0) return 2;
    small.rlim_cur = 200;
    if (::setrlimit(RLIMIT_FSIZE, &small) != 0) return 3;
    try {
      tg::save_safetensors(path, tg::StoredTensors{{"new", xt::xarray<float>::from_shape({1000})}});
    } catch (const tg::FileIoError& e) {
      say(e.what());
      return 0;
    }
    return 1;
  });
  MESSAGE(r.message);
  CHECK(r.code == 0);
  CHECK(r.message == "safetensors file '" + path + "': write failed: " + std::strerror(EFBIG));
  CHECK(read_bytes(path) == old);
  CHECK(dir.entries() == 1);  // the temporary file is gone

  // The rename fails: the target is a folder.
  fs::create_directories(dir.path() / "folder" / "inside");
  CHECK_THROWS_WITH_AS(tg::save_safetensors(dir.file("folder"), tg::StoredTensors{}),
                       doctest::Contains("cannot rename the temporary file over it: Is a directory"), tg::FileIoError);
  CHECK(fs::is_directory(dir.path() / "folder" / "inside"));
  CHECK(dir.entries() == 2);

  // Folders that cannot be written, also as root: missing, under a regular file, in /proc.
  CHECK_THROWS_WITH_AS(tg::save_safetensors(dir.file("no/such/x.safetensors"), tg::StoredTensors{}),
                       doctest::Contains("cannot create the temporary file"), tg::FileIoError);
  CHECK_THROWS_WITH_AS(tg::save_safetensors(path + "/x.safetensors", tg::StoredTensors{}),
                       doctest::Contains("': Not a directory"), tg::FileIoError);
  CHECK_THROWS_WITH_AS(tg::save_safetensors("/proc/tapegrad_test.safetensors", tg::StoredTensors{}),
                       doctest::Contains("safetensors file '/proc/tapegrad_test.safetensors': cannot create the temporary file"),
                       tg::FileIoError);
  CHECK(read_bytes(path) == old);

  // A successful save replaces the old file in one step.
  tg::save_safetensors(path, tg::StoredTensors{{"new", xt::xarray<float>{2.0f}}});
  CHECK(tg::load_safetensors(path).at("new").get<float>()(0) == 2.0f);
  CHECK(dir.entries() == 2);

  // A path without a folder part writes into the working directory.
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path());
  tg::save_safetensors("here.safetensors", tg::StoredTensors{});
  fs::current_path(cwd);
  CHECK(fs::exists(dir.path() / "here.safetensors"));
}

TEST_CASE("save: a dead writer's temporary file is removed by the next save to that path; others stay") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  // A pid that certainly names no process: a child that has exited and been reaped.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  const std::string dead = "ckpt.safetensors.tmp." + std::to_string(child) + ".0.12345";
  const std::string alive = "ckpt.safetensors.tmp." + std::to_string(::getppid()) + ".0.12345";
  const std::string other_target = "other.safetensors.tmp." + std::to_string(child) + ".0.12345";
  const std::string not_ours = "ckpt.safetensors.tmp." + std::to_string(child) + ".notes";
  for (const auto& name : {dead, alive, other_target, not_ours}) write_bytes(dir.file(name), Bytes{1, 2, 3});

  tg::save_safetensors(path, tg::StoredTensors{{"x", xt::xarray<float>{1.0f}}});
  CHECK_FALSE(fs::exists(dir.path() / dead));
  CHECK(fs::exists(dir.path() / alive));         // its writer may still be writing
  CHECK(fs::exists(dir.path() / other_target));  // another file's temporary: not this save's business
  CHECK(fs::exists(dir.path() / not_ours));      // not a name the writer makes
  CHECK(dir.entries() == 4);
}

TEST_CASE("save: bad tensor names, reserved metadata keys and invalid UTF-8 are rejected") {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  const xt::xarray<float> v = {1.0f};
  CHECK_THROWS_WITH_AS(tg::save_safetensors(path, tg::StoredTensors{{"a", v}, {"a", v}}),
                       "save_safetensors: two tensors are called 'a'", std::invalid_argument);
  CHECK_THROWS_AS(tg::save_safetensors(path, tg::StoredTensors{{"", v}}), std::invalid_argument);
  CHECK_THROWS_AS(tg::save_safetensors(path, tg::StoredTensors{{"__metadata__", v}}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(tg::save_safetensors(path, tg::StoredTensors{}, {{"crc32", "0"}}),
                       "save_safetensors: the metadata key 'crc32' is reserved (the writer fills it in)",
                       std::invalid_argument);
  CHECK_THROWS_AS(tg::save_safetensors(path, tg::StoredTensors{}, {{"header_crc32", "0"}}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(tg::save_safetensors(path, tg::StoredTensors{}, {{"k", "\xff"}}),
                       doctest::Contains("not valid UTF-8"), std::invalid_argument);
  CHECK_THROWS_AS(tg::save_safetensors(path, tg::NamedTensors{{"u", tg::Tensor()}}), std::invalid_argument);
  CHECK(dir.entries() == 0);
}

TEST_CASE("StoredTensor: dtype, shape, and get with the wrong dtype is a clear error") {
  const tg::StoredTensor t = xt::xarray<double>{{1.0, 2.0}};
  CHECK(t.dtype() == tg::StoredDtype::F64);
  CHECK(t.shape() == tg::Shape{1, 2});
  CHECK(t.numel() == 2);
  CHECK(tg::stored_dtype_name(t.dtype()) == std::string("F64"));
  CHECK_THROWS_WITH_AS(t.get<float>(), "StoredTensor: the tensor holds F64 values, not F32", tg::CheckpointError);
  const tg::StoredTensor i = xt::xarray<std::int64_t>{5};
  CHECK(i.dtype() == tg::StoredDtype::I64);
  CHECK(tg::stored_dtype_size(i.dtype()) == 8);
  CHECK(tg::stored_dtype_of<float>() == tg::StoredDtype::F32);
  const tg::SafetensorsFile f;
  CHECK_THROWS_WITH_AS(f.at("w"), "safetensors: the file holds no tensor named 'w'", tg::CheckpointError);
}

// ---- hostile files (Note [hostile files]) ----

namespace {

enum class Kind { content, io };  // CheckpointError (and not FileIoError), or FileIoError

struct Hostile {
  std::string what;
  Bytes bytes;
  Kind kind;
  std::string words;  // in the message: the culprit (key, tensor, limit)
};

// The message and kind of the error for these bytes, from memory and from a file; the file is
// left byte-identical.
void expect_rejected(const Hostile& h, const TempDir& dir) {
  CAPTURE(h.what);
  const std::string path = dir.file("hostile.safetensors");
  write_bytes(path, h.bytes);
  std::string msg = "(accepted)";
  bool io = false;
  try {
    tg::load_safetensors(path);
  } catch (const tg::FileIoError& e) {
    msg = e.what();
    io = true;
  } catch (const tg::CheckpointError& e) {
    msg = e.what();
  }
  CHECK_MESSAGE(msg.find(h.words) != std::string::npos, tgtest::crc_text(msg.data(), 0), " ", tg::quote_input(msg, 300));
  CHECK(msg.find("safetensors file '" + path + "': ") == 0);
  CHECK(msg.size() < 600);  // culprits are quoted short, never pasted whole
  CHECK(io == (h.kind == Kind::io));
  CHECK(read_bytes(path) == h.bytes);
  if (h.kind == Kind::content) {
    const std::string from_memory = rejection(h.bytes);
    CHECK_MESSAGE(from_memory.find(h.words) != std::string::npos, tg::quote_input(from_memory, 300));
  }
}

std::string f32_entry(const std::string& name, const std::string& shape, std::uint64_t begin, std::uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST_CASE("hostile headers: limits, nesting, huge declared sizes; CRCs correct, each refused naming the culprit") {
  using tgtest::meta_with_crcs;
  using tgtest::sealed;
  TempDir dir;
  const std::string cap = std::to_string(tg::kSafetensorsMaxHeaderBytes);
  std::vector<std::string> many_meta;
  std::string big_meta;
  for (std::size_t i = 0; i <= tg::kSafetensorsMaxEntries; ++i)
    big_meta += (i ? ",\"" : "\"") + std::to_string(i) + "\":\"\"";
  const std::string long_name(100000, 'n');
  const std::vector<Hostile> rows = {
      {"header length over the cap", sealed("{" + meta_with_crcs() + "}", {}, tg::kSafetensorsMaxHeaderBytes + 1),
       Kind::content, "the header length " + std::to_string(tg::kSafetensorsMaxHeaderBytes + 1) + " exceeds the limit of " + cap},
      {"header length 2^64 - 1", tgtest::layout("{}", {}, ~0ull - 1), Kind::content, "exceeds the limit of " + cap},
      {"header length at the cap, past the file", tgtest::layout("{}", {}, tg::kSafetensorsMaxHeaderBytes), Kind::content,
       "the header length " + cap + " exceeds the 2 bytes after it"},
      {"[[[[ a million deep", tgtest::layout(std::string(1000000, '['), {}), Kind::content,
       "nests deeper than the format's three levels"},
      {"deep in an entry", sealed("{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "," + meta_with_crcs() + "}", {}),
       Kind::content, "nests deeper than the format's three levels"},
      {"object in a shape", sealed("{" + f32_entry("a", "[{}]", 0, 4) + "," + meta_with_crcs() + "}", Bytes(4)),
       Kind::content, "nests deeper"},
      {"deep in the metadata", sealed("{\"__metadata__\":{\"k\":{\"x\":{}},\"crc32\":\"00000000\",\"header_crc32\":\"00000000\"}}", {}),
       Kind::content, "nests deeper"},
      {"a 300,000-key object in the metadata", sealed("{\"__metadata__\":{\"k\":{" + [] {
         std::string keys;
         for (int i = 0; i < 300000; ++i) keys += (i ? ",\"" : "\"") + std::to_string(i) + "\":0";
         return keys;
       }() + "}," + tgtest::meta_with_crcs().substr(16) + "}", {}),
       Kind::content, "the header nests deeper than the format allows: an object inside an entry"},
      {"an object as a dtype", sealed("{\"w\":{\"dtype\":{\"F32\":1},\"shape\":[],\"data_offsets\":[0,4]}," + meta_with_crcs() + "}", Bytes(4)),
       Kind::content, "an object inside an entry"},
      {"65 dimensions", sealed("{" + f32_entry("a", "[1" + repeat(",1", 64) + "]", 0, 4) + "," + meta_with_crcs() + "}", Bytes(4)),
       Kind::content, "an array in the header holds more than 64 elements"},
      {"a million-element entry array", sealed("{\"a\":[0" + repeat(",0", 1000000) + "]," + meta_with_crcs() + "}", {}),
       Kind::content, "more than 64 elements"},
      {"a fourth key in an entry", sealed("{\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"x\":" +
                                          repeat("1", 1000) + "}," + meta_with_crcs() + "}", Bytes(4)),
       Kind::content, "tensor 'w': the entry must be an object with exactly dtype, shape and data_offsets"},
      {"more entries than the limit", sealed("{\"__metadata__\":{" + big_meta + ",\"crc32\":\"00000000\",\"header_crc32\":\"00000000\"}}", {}),
       Kind::content, "the header holds more than " + std::to_string(tg::kSafetensorsMaxEntries) + " entries"},
      {"a key twice, the rest fine", sealed("{" + f32_entry("w", "[]", 0, 4) + "," + f32_entry("w", "[]", 0, 4) + "," + meta_with_crcs() + "}", Bytes(4)),
       Kind::content, "the header has the key 'w' twice"},
      {"a 1 TiB tensor in a 4-byte section", sealed("{" + f32_entry("huge", "[262144,1048576]", 0, 1ull << 40) + "," + meta_with_crcs() + "}", Bytes(4)),
       Kind::content, "tensor 'huge': data_offsets [0, 1099511627776] go past the 4-byte data section"},
      {"shape overflowing 2^64", sealed("{" + f32_entry("wide", "[4294967296,4294967296,16]", 0, 4) + "," + meta_with_crcs() + "}", Bytes(4)),
       Kind::content, "tensor 'wide': its shape overflows"},
      {"a 100 kB tensor name, bad dtype", sealed("{\"" + long_name + "\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,2]}," + meta_with_crcs() + "}", Bytes(2)),
       Kind::content, "tensor '" + std::string(80, 'n') + "\xE2\x80\xA6': unsupported dtype 'BF16'"},
      {"control characters in a name", sealed("{\"a\\u0001\\n\":{\"dtype\":\"I8\",\"shape\":[],\"data_offsets\":[0,1]}," + meta_with_crcs() + "}", Bytes(1)),
       Kind::content, "tensor 'a\\x01\\x0A': unsupported dtype 'I8'"},
      {"an unterminated 1 MB string", tgtest::layout("{\"" + std::string(1000000, 's'), {}), Kind::content, "not valid JSON"},
      {"a gap between tensors", sealed("{" + f32_entry("a", "[]", 0, 4) + "," + f32_entry("b", "[]", 8, 12) + "," + meta_with_crcs() + "}", Bytes(12)),
       Kind::content, "gap at bytes [4, 8) before tensor 'b'"},
      {"overlapping tensors", sealed("{" + f32_entry("a", "[2]", 0, 8) + "," + f32_entry("b", "[2]", 4, 12) + "," + meta_with_crcs() + "}", Bytes(12)),
       Kind::content, "tensor 'b' overlaps the tensor before it"},
  };
  for (const Hostile& h : rows) expect_rejected(h, dir);

  // The same bytes, fixed, are accepted: the rows fail for what they say, not for their CRCs.
  CHECK_NOTHROW(tg::parse_safetensors(sealed("{" + f32_entry("w", "[]", 0, 4) + "," + meta_with_crcs() + "}", Bytes(4)).data(),
                                      8 + 0 + sealed("{" + f32_entry("w", "[]", 0, 4) + "," + meta_with_crcs() + "}", Bytes(4)).size() - 8, "ok"));
  {
    const Bytes ok = sealed("{" + f32_entry("a", "[64]", 0, 256) + "," + meta_with_crcs() + "}", Bytes(256));
    CHECK(rejection(ok) == "(accepted)");
    const Bytes at_rank = sealed("{" + f32_entry("a", "[1" + repeat(",1", 63) + "]", 0, 4) + "," + meta_with_crcs() + "}", Bytes(4));
    CHECK(rejection(at_rank) == "(accepted)");  // 64 dimensions: the limit itself
  }
}

TEST_CASE("hostile headers: many entries parse in O(n log n); the entry limit itself is accepted") {
  using tgtest::sealed;
  // As many empty tensors as the limit allows, with 60-byte names: a ~9 MB header.
  const int tensors = int(tg::kSafetensorsMaxEntries) - 2;  // and the two CRC entries
  std::string header = "{";
  for (int i = 0; i < tensors; ++i) {
    std::string name = std::to_string(i);
    name.insert(0, 60 - name.size(), 'k');
    header += "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},";
  }
  header += tgtest::meta_with_crcs() + "}";
  const Bytes file = sealed(header, {});
  const auto start = std::chrono::steady_clock::now();
  const tg::SafetensorsFile f = tg::parse_safetensors(file.data(), file.size(), "many");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE(tensors << " entries (" << header.size() / 1000000.0 << " MB header) parsed in " << seconds << " s");
  CHECK(f.tensors.size() == std::size_t(tensors));

  // Exactly kSafetensorsMaxEntries entries: metadata strings + the two CRCs.
  std::string meta;
  for (std::size_t i = 0; i + 2 < tg::kSafetensorsMaxEntries; ++i) meta += "\"" + std::to_string(i) + "\":\"\",";
  const Bytes at_limit = sealed("{\"__metadata__\":{" + meta + "\"crc32\":\"00000000\",\"header_crc32\":\"00000000\"}}", {});
  CHECK(tg::parse_safetensors(at_limit.data(), at_limit.size(), "limit").metadata.size() == tg::kSafetensorsMaxEntries);
}

TEST_CASE("hostile files: a tensor bigger than the memory left is an AllocationError naming it and its size") {
#if defined(__SANITIZE_ADDRESS__)
  MESSAGE("skipped under AddressSanitizer (it cannot run under an address-space limit)");
#else
  using tgtest::sealed;
  TempDir dir;
  const std::string path = dir.file("big.safetensors");
  // A sparse 1 GiB data section: one F32 tensor of 2^28 elements. Its CRC entry is left wrong on
  // purpose (computing it would read 1 GiB): the allocation comes before the data CRC check.
  const std::uint64_t nbytes = 1ull << 30;
  const std::string header = "{" + f32_entry("big", "[268435456]", 0, nbytes) + "," + tgtest::meta_with_crcs() + "}";
  const Bytes head = sealed(header, {});
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(head.data()), std::streamsize(head.size()));
  }
  fs::resize_file(path, head.size() + nbytes);
  const tgtest::ChildResult r = tgtest::in_child([&](const auto& say) {
    struct rlimit as;
    if (::getrlimit(RLIMIT_AS, &as) != 0) return 2;
    long pages = 0;
    std::ifstream("/proc/self/statm") >> pages;  // the address space in use, in pages
    as.rlim_cur = rlim_t(pages) * rlim_t(::sysconf(_SC_PAGESIZE)) + (256ull << 20);
    if (::setrlimit(RLIMIT_AS, &as) != 0) return 3;
    try {
      tg::load_safetensors(path);
    } catch (const tg::AllocationError& e) {
      say(e.what());
      return 0;
    } catch (const tg::CheckpointError& e) {
      say(std::string("CheckpointError: ") + e.what());
      return 4;
    }
    return 1;
  }, 60);
  MESSAGE(r.message);
  CHECK(r.code == 0);
  CHECK(r.message == "safetensors file '" + path + "': out of memory: tensor 'big' needs 1073741824 bytes");
#endif
}
