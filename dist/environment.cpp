#include <tapegrad/dist/environment.hpp>

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace tg::dist {

Session::Session(int& argc, char**& argv) {
  if (initialized()) throw std::logic_error("tg::dist::Session: MPI is already initialised (one Session per process)");
  // Only the main thread calls MPI (BLAS threads never do).
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  // Errors in a collective abort the job (the default), rather than returning codes we ignore.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
}

Session::~Session() {
  if (initialized()) MPI_Finalize();
}

bool initialized() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  return init && !fin;
}

int rank() {
  if (!initialized()) return 0;
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  if (!initialized()) return 1;
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

void abort(const std::string& message, int exit_code) {
  std::fprintf(stderr, "rank %d: %s\n", rank(), message.c_str());
  std::fflush(stderr);
  if (initialized()) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

}  // namespace tg::dist
