#pragma once
// Crafted files for the hostile-input tests of io/ (Note [hostile files] in safetensors.hpp):
// headers sealed with correct CRCs, so a row is rejected for its content and never merely for a
// CRC mismatch, and a forked child for what must not happen in the test process itself (a
// file-size limit, an address-space limit, a possible hang).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <zlib.h>

#include <doctest/doctest.h>

namespace tgtest {

using CrcBytes = std::vector<unsigned char>;

inline std::string crc_text(const void* data, std::size_t n) {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08lx", ::crc32(0L, static_cast<const Bytef*>(data), uInt(n)));
  return hex;
}

// The 8-byte length, `header`, `data`; `length` overrides the length field when given.
inline CrcBytes layout(const std::string& header, const CrcBytes& data, std::uint64_t length = ~0ull) {
  if (length == ~0ull) length = header.size();
  CrcBytes out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(length >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// `header` must contain "crc32":"00000000","header_crc32":"00000000" (the writer's order);
// both are filled in as the writer would: the CRC of `data`, then the CRC of the length and
// header with its own digits as zeros. The result passes both CRC checks.
inline CrcBytes sealed(std::string header, const CrcBytes& data, std::uint64_t length = ~0ull) {
  const std::string entries = "\"crc32\":\"00000000\",\"header_crc32\":\"00000000\"";
  const std::size_t at = header.find(entries);
  REQUIRE_MESSAGE(at != std::string::npos, "sealed: the header has no CRC placeholders");
  header.replace(at + 9, 8, crc_text(data.data(), data.size()));
  CrcBytes out = layout(header, data, length);
  const std::size_t digits = 8 + at + entries.size() - 9;  // header_crc32's 8 digits
  const std::string hcrc = crc_text(out.data(), 8 + header.size());
  std::memcpy(out.data() + digits, hcrc.data(), 8);
  return out;
}

// The metadata object sealed() needs, after `more` entries (each "key":"value", comma-joined).
inline std::string meta_with_crcs(const std::string& more = "") {
  return "\"__metadata__\":{" + more + (more.empty() ? "" : ",") +
         "\"crc32\":\"00000000\",\"header_crc32\":\"00000000\"}";
}

struct ChildResult {
  int code;             // exit code, or -signal
  std::string message;  // what the child wrote to its pipe
};

// Runs fn in a forked child, killed after `seconds` (SIGALRM): its return value is the exit
// code; `say` sends text back to the parent. For limits that must not touch the test process.
inline ChildResult in_child(const std::function<int(const std::function<void(const std::string&)>& say)>& fn,
                            unsigned seconds = 10) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::alarm(seconds);
    auto say = [&](const std::string& s) {
      const char* p = s.data();
      std::size_t n = s.size();
      while (n > 0) {
        const ssize_t w = ::write(fds[1], p, n);
        if (w <= 0) break;
        p += w;
        n -= std::size_t(w);
      }
    };
    int code = 99;
    try {
      code = fn(say);
    } catch (const std::exception& e) {
      say(std::string("unexpected exception: ") + e.what());
    } catch (...) {
      say("unexpected exception");
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  std::string message;
  char buf[4096];
  ssize_t r;
  while ((r = ::read(fds[0], buf, sizeof buf)) > 0) message.append(buf, std::size_t(r));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status), message};
}

}  // namespace tgtest
