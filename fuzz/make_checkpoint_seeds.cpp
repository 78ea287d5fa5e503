// Writes the checkpoint fuzzer's seed corpus: a valid checkpoint of the fuzzer's model, and
// variants that start the fuzzer next to every check of the reader (Note [hostile files] in
// io/safetensors.hpp): large headers (many metadata entries, long keys, many tensors), odd
// headers (deep nesting, huge declared lengths, empty tensors, I64 and old-style F32 step
// counts, 64 and 65 dimensions) and metadata numbers ("010", "0x10", "nan", "-1", "1e400").
// Every seed has correct CRCs, so mutations start past the CRC checks.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "fuzz_model.hpp"

namespace {

using Meta = std::map<std::string, std::string>;
using Edit = std::function<void(tg::StoredTensors&, Meta&)>;

std::uint32_t crc32(const std::string& bytes) {
  static std::uint32_t table[256];
  static bool ready = false;
  if (!ready) {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    ready = true;
  }
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string hex8(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

// Length + header + data, with both CRC entries right. `header` ends with the metadata object
// and must contain "crc32":"00000000","header_crc32":"00000000".
std::string sealed(std::string header, const std::string& data, std::uint64_t length = ~0ull) {
  const std::string entries = "\"crc32\":\"00000000\",\"header_crc32\":\"00000000\"";
  const std::size_t at = header.find(entries);
  if (at == std::string::npos) std::abort();
  header.replace(at + 9, 8, hex8(crc32(data)));
  if (length == ~0ull) length = header.size();
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(char(length >> (8 * i)));
  out += header;
  out.replace(8 + at + entries.size() - 9, 8, hex8(crc32(out)));
  return out + data;
}

std::string meta_with_crcs() { return "\"__metadata__\":{\"crc32\":\"00000000\",\"header_crc32\":\"00000000\"}"; }

std::string f32(const std::string& name, const std::string& shape, std::uint64_t begin, std::uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_checkpoint_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::filesystem::create_directories(dir);
  const std::string seed = dir + "/seed.safetensors";
  fuzz::FuzzModel().save(seed);

  // Variants of the valid seed, rewritten through save_safetensors (fresh CRCs).
  auto variant = [&](const std::string& name, const Edit& edit) {
    tg::SafetensorsFile f = tg::load_safetensors(seed);
    f.metadata.erase("crc32");
    f.metadata.erase("header_crc32");
    edit(f.tensors, f.metadata);
    tg::save_safetensors(dir + "/" + name + ".safetensors", f.tensors, f.metadata);
  };
  auto meta = [](const std::string& key, const std::string& value) {
    return [=](tg::StoredTensors&, Meta& m) { m[key] = value; };
  };
  auto tensor = [](const std::string& name, tg::StoredTensor t) {
    return [=](tg::StoredTensors& ts, Meta&) {
      for (auto& [n, v] : ts)
        if (n == name) v = t;
    };
  };
  variant("old_f32_steps", [](tg::StoredTensors& ts, Meta& m) {
    for (auto& [n, v] : ts)
      if (n.rfind("optim.step.", 0) == 0) v = xt::xarray<float>(float(v.get<std::int64_t>()()));
    m["tapegrad.checkpoint_version"] = "1";
  });
  variant("many_metadata", [](tg::StoredTensors&, Meta& m) {
    for (int i = 0; i < 5000; ++i) m["run.k" + std::to_string(i)] = std::to_string(i);
  });
  variant("long_keys", [](tg::StoredTensors&, Meta& m) { m["run." + std::string(100000, 'k')] = std::string(100000, 'v'); });
  variant("many_tensors", [](tg::StoredTensors& ts, Meta&) {
    for (int i = 0; i < 2000; ++i) ts.emplace_back("extra.t" + std::to_string(i), xt::xarray<float>{float(i)});
  });
  variant("empty_tensors", [](tg::StoredTensors& ts, Meta&) {
    ts.emplace_back("extra.e0", xt::xarray<float>::from_shape({0}));
    ts.emplace_back("extra.e1", xt::xarray<double>::from_shape({0, 5}));
    ts.emplace_back("extra.e2", xt::xarray<std::int64_t>::from_shape({3, 0, 2}));
  });
  variant("step_2p24_plus_1", tensor("optim.step.weight", xt::xarray<std::int64_t>(16777217)));
  variant("step_negative", tensor("optim.step.bias", xt::xarray<std::int64_t>(-1)));
  variant("step_huge", tensor("optim.step.bias", xt::xarray<std::int64_t>(std::numeric_limits<std::int64_t>::max())));
  variant("nan_param", tensor("bias", xt::xarray<float>{std::numeric_limits<float>::quiet_NaN(), 0.f}));
  variant("inf_extra", tensor("extra.state.h", xt::xarray<float>{{std::numeric_limits<float>::infinity(), 0.f}}));
  variant("dims_64", [](tg::StoredTensors& ts, Meta&) { ts.emplace_back("extra.r64", xt::xarray<float>::from_shape(tg::Shape(64, 1))); });
  const char* numbers[] = {"010", "0x10", "nan", "-1", "1e400", "inf", "1e-400", "+1", " 1", "18446744073709551616"};
  int k = 0;
  for (const char* v : numbers) {
    const std::string i = std::to_string(k++);
    variant("lr_" + i, meta("tapegrad.optimizer.group.0.lr", v));
    variant("groups_" + i, meta("tapegrad.optimizer.groups", v));
    variant("last_step_" + i, meta("tapegrad.scheduler.last_step", v));
    variant("base_lr_" + i, meta("tapegrad.scheduler.base_lr.0", v));
  }

  // Odd headers, written byte by byte.
  const std::string m = meta_with_crcs();
  write(dir + "/deep_nesting.safetensors", sealed("{\"a\":" + std::string(1000, '[') + std::string(1000, ']') + "," + m + "}", ""));
  write(dir + "/deep_top.safetensors", sealed(std::string(4000, '[') + "{" + m + "}", ""));
  write(dir + "/huge_length.safetensors", sealed("{" + m + "}", "", std::uint64_t(1) << 63));
  write(dir + "/length_at_cap.safetensors", sealed("{" + m + "}", "", tg::kSafetensorsMaxHeaderBytes));
  write(dir + "/huge_tensor.safetensors", sealed("{" + f32("w", "[268435456,1024]", 0, 1ull << 40) + "," + m + "}", std::string(4, '\0')));
  write(dir + "/dims_65.safetensors", sealed("{" + f32("w", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
                                                             "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]", 0, 4) +
                                                   "," + m + "}", std::string(4, '\0')));
  std::string many = "{";
  for (int i = 0; i < 3000; ++i) many += f32("t" + std::to_string(i), "[0]", 0, 0) + ",";
  write(dir + "/many_empty_tensors.safetensors", sealed(many + m + "}", ""));
  return 0;
}
