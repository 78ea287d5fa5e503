#pragma once
// char_lm's data-parallel group: one process (the default), or with `train --distributed` the
// ranks of `mpirun -np N` (tapegrad::dist on MPI). Rank r trains on streams
// [r*B/N, (r+1)*B/N) of the B streams, so the global batch and the data order are those of a
// single process with the same B; the ranks average their gradients before clipping and the
// optimizer step, and only rank 0 prints, validates, samples and writes checkpoints.
// Without --distributed every collective below is the identity on a group of one.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace charlm {

// MPI for the whole process, started by main() when `train --distributed` is given.
class MpiRuntime {
 public:
  // Whether char_lm was built with tapegrad::dist (TAPEGRAD_WITH_MPI).
  static bool available();
  MpiRuntime();  // InputError when !available()
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;
  // Prints "rank R: <message>" and ends every rank of the job with `exit_code`.
  [[noreturn]] void abort(const std::string& message, int exit_code) const;
};

class DataParallel {
 public:
  // distributed: the MPI ranks (an MpiRuntime must be live); otherwise a group of one.
  explicit DataParallel(bool distributed);
  ~DataParallel();

  bool distributed() const { return distributed_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }

  // This rank's streams of B: [first_stream(B), first_stream(B) + streams(B)).
  // InputError if B is not divisible by the number of ranks (Note [equal shares]).
  std::size_t streams(std::size_t batch) const;
  std::size_t first_stream(std::size_t batch) const { return std::size_t(rank_) * streams(batch); }

  // Start-up: InputError on every rank if the ranks' settings differ (naming the setting).
  void check_same(const std::map<std::string, std::string>& settings) const;
  // Rank 0's parameter values on every rank; then gradients of `params` can be averaged.
  void start(const std::vector<tg::Tensor>& params);
  // grad(p) = mean over ranks (one fused allreduce).
  void average_gradients();
  double allreduce_seconds() const;  // time inside the gradient allreduce so far

  double mean(double value) const;   // over ranks
  bool any(bool value) const;        // true on every rank if true on one
  double from_root(double value) const;
  std::vector<std::string> allgather(const std::string& value) const;
  // Rows of every rank stacked in rank order, on rank 0 ([B/N, H] -> [B, H]); empty elsewhere.
  tg::Tensor gather_rows(const tg::Tensor& local) const;

 private:
  bool distributed_;
  int rank_ = 0, size_ = 1;
  struct Allreduce;
  std::unique_ptr<Allreduce> allreduce_;
};

}  // namespace charlm
