// doctest main for the tests that run under `mpirun -np N`: MPI around the doctest run. Every
// rank runs every test case in the same order (their collectives must match), and a failure on
// any rank makes mpirun's exit code non-zero.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include <tapegrad/dist/dist.hpp>

int main(int argc, char** argv) {
  tg::dist::Session mpi(argc, argv);
  doctest::Context context(argc, argv);
  if (tg::dist::rank() != 0) context.setOption("out", "/dev/null");  // one report (rank 0's)...
  const int failed = context.run();
  if (failed) std::fprintf(stderr, "rank %d: %d test case(s) failed\n", tg::dist::rank(), failed);  // ...and every failure
  return failed;
}
