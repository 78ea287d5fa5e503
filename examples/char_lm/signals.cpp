#include "signals.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>

#include "options.hpp"

namespace charlm {
namespace {

std::atomic<int> first_signal{0};
std::atomic<int> signals_seen{0};
std::atomic<bool> saving{false};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free,
              "the signal handler needs lock-free atomics");

extern "C" void on_signal(int sig) {
  int none = 0;
  first_signal.compare_exchange_strong(none, sig);
  if (++signals_seen >= 2 && !saving) ::_exit(kSignalBase + first_signal);
}

}  // namespace

void install_stop_signals() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) std::signal(sig, on_signal);
}

int stop_signal() { return first_signal; }

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGPIPE: return "SIGPIPE";
    default: return "a signal";
  }
}

SaveInProgress::SaveInProgress() { saving = true; }

SaveInProgress::~SaveInProgress() {
  saving = false;
  if (signals_seen >= 2) ::_exit(kSignalBase + first_signal);
}

}  // namespace charlm
