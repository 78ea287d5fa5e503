#pragma once
// This process's memory, for the benchmarks' RSS figures (Linux).
#include <sys/resource.h>
#include <unistd.h>

#include <cstddef>
#include <fstream>

namespace tgbench {

// Resident set size now, MiB.
inline double rss_mib() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return double(resident) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

// Peak resident set size so far, MiB (ru_maxrss is per process).
inline double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

}  // namespace tgbench
