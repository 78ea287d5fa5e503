#pragma once
// tg::dist: data-parallel training on MPI (OpenMPI). Every rank holds a full copy of the model,
// trains on its own share of the batch, and the ranks average their gradients before the
// optimizer step, so the parameters stay identical on every rank.
//
// This file: the MPI session (init/finalize), who am I (rank, world size), and taking the whole
// job down when one rank fails.
#include <string>

namespace tg::dist {

// MPI_Init on construction, MPI_Finalize on destruction; one per process, in main().
// std::logic_error if MPI was already initialised.
class Session {
 public:
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

// Whether a Session is live (MPI initialised and not yet finalised).
bool initialized();
// This process's rank in MPI_COMM_WORLD, and the number of ranks (0 and 1 without a Session).
int rank();
int world_size();
inline bool is_root() { return rank() == 0; }

// Prints "rank R: <message>" to stderr and ends every rank of the job (MPI_Abort) with
// `exit_code`, so no rank is left waiting in a collective. Without a Session: std::exit.
[[noreturn]] void abort(const std::string& message, int exit_code = 1);

}  // namespace tg::dist
