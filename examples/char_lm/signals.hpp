#pragma once
// Note [signals]: SIGINT, SIGTERM, SIGHUP and SIGPIPE ask training to stop: the loop saves a
// checkpoint at the next step boundary (validation looks between its blocks) and exits with
// 128 + the signal. A second signal exits at once, or right after a save that is under way,
// so the checkpoint on disk is always whole.

namespace charlm {

void install_stop_signals();
// The first stop signal received, 0 if none.
int stop_signal();
const char* signal_name(int sig);

// While one lives, a second signal waits; when it ends, a second signal that came exits.
class SaveInProgress {
 public:
  SaveInProgress();
  ~SaveInProgress();
  SaveInProgress(const SaveInProgress&) = delete;
  SaveInProgress& operator=(const SaveInProgress&) = delete;
};

}  // namespace charlm
