#pragma once
// tg::dist collectives on MPI_COMM_WORLD beyond the gradient average: parameters from rank 0,
// sums of a few scalars, gathering per-rank rows and strings, and the start-up check that
// every rank runs the same configuration. Every rank must make the same calls in the same
// order (they are collectives); without a Session they act on a world of one rank.
#include <map>
#include <string>
#include <vector>

#include <tapegrad/autograd/tensor.hpp>

namespace tg::dist {

// Every rank's parameter values become rank `root`'s: one fused buffer and one MPI_Bcast per
// dtype the parameters use (float32, float64).
// std::invalid_argument if a rank's parameter count or sizes per dtype differ from the root's.
void broadcast_parameters(const std::vector<Tensor>& params, int root = 0);

// Waits until every rank got here.
void barrier();

// values[i] becomes the sum over ranks of values[i] (one MPI_Allreduce, in place).
void allreduce_sum(std::vector<double>& values);
// Rank `root`'s value, on every rank.
double broadcast(double value, int root = 0);

// Every rank's string, indexed by rank, on every rank.
std::vector<std::string> allgather(const std::string& value);

// Rows [N_r, ...] of every rank r, stacked in rank order into [sum N_r, ...] on `root` (the
// other ranks get an empty tensor), in the dtype of `local`. The trailing dimensions and the
// dtypes must agree.
Tensor gather_rows(const Tensor& local, int root = 0);

// Start-up check: every rank must pass the same settings (name -> value). On any difference,
// std::invalid_argument on every rank naming the first differing setting, e.g.
// "configuration differs across ranks: --batch is 8 on rank 0 but 4 on rank 1".
void check_same_settings(const std::map<std::string, std::string>& settings);

}  // namespace tg::dist
