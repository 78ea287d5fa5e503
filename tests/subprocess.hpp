#pragma once
// Runs a shell command and collects what it prints: the end-to-end tests drive the example
// binaries (char_lm, mpirun) exactly as a user would.
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include <doctest/doctest.h>

namespace tgtest {

struct CommandResult {
  int code;            // exit code; -1 when killed by a signal
  std::string output;  // stdout and stderr
};

inline CommandResult run_command(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace tgtest
