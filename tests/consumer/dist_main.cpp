// Built only with find_package(tapegrad COMPONENTS dist): the dist headers and library link,
// and without MPI_Init the helpers act as one process of one.
#include <cstdio>

#include <tapegrad/dist/dist.hpp>
#include <tapegrad/tapegrad.hpp>

int main() {
  if (tg::dist::initialized() || tg::dist::world_size() != 1 || tg::dist::rank() != 0) {
    std::printf("consumer_dist: expected one process without MPI_Init\n");
    return 1;
  }
  std::printf("consumer_dist: tapegrad %s with dist, world size %d\n", TAPEGRAD_VERSION, tg::dist::world_size());
  return 0;
}
