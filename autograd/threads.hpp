#pragma once
// Thread count of tapegrad: its one pool runs the pieces of large GEMMs and the chunks of large
// elementwise ops (Note [one pool] in thread_pool.cpp); OpenBLAS itself always runs on one thread.
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
