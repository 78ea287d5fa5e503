#pragma once
// Thread count of BLAS (and of any threads of tapegrad's own; it has none today).
// The default is 1: small recurrent GEMMs run slower on two threads when the other core is busy.

namespace tg {

// n >= 1; std::invalid_argument otherwise. Never more threads than asked, and never more than
// the cores this process may run on: n is capped at the smaller of
// std::thread::hardware_concurrency() and the CPUs of the process' affinity mask
// (sched_getaffinity), counting only those that are known (> 0). get_num_threads() returns the
// count in effect after the cap.
void set_num_threads(int n);
int get_num_threads();

// The cap above: the cores available to this process (1 when neither count is known).
int available_cores();

}  // namespace tg
