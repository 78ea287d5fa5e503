#pragma once
// Data-parallel training on the threads of one process (issue 20, step 5): every thread runs
// the whole step (forward, backward) of a replica of the model on its own share of the batch,
// on its own tape, and the replicas' gradients are averaged into the model's before the
// optimizer step. The same scheme as tg::dist across MPI ranks, without the processes.
//
//   tg::set_num_threads(2);
//   Model model(...), replica(...);            // same architecture: parameters in the same order
//   tg::DataParallel dp(model.parameters(), {replica.parameters()});
//   dp.run([&](std::size_t shard) {            // shard 0: model, shard 1: replica, at once
//     Model& m = shard == 0 ? model : replica;
//     cross_entropy(m(x[shard]), y[shard]).backward();   // the mean over this shard's tokens
//   });                                        // model's gradients: the mean over the shards
//   tg::clip_grad_norm(model.parameters(), 5.0); opt.step(); opt.zero_grad();
//
// Why: at S (a [32, 128] LSTM) most ops are too small to split between two cores, so threads
// inside each op leave the second core idle for a third of the step; a whole half-batch per
// core keeps both busy (measured in README "Two threads").
//
// The replicas' parameters read the model's values (bound at construction: no copy, so they
// see every optimizer step at once) and keep gradients of their own, which run() moves into
// the model's. Shards run as tasks of the pool (tg::set_num_threads): inside a task every op
// runs on that one thread. With one thread the shards run one after the other, same result.
// Each shard's loss must be the mean over an equal share of the batch, so that the mean of
// the shards' gradients is the batch's (as with tg::dist::GradientAllreduce::average). For a
// fixed number of shards the result is deterministic; it differs from one unsharded run by
// float rounding only. The model's parameters must not be converted (Module::to) or replaced
// while bound: run() checks, std::logic_error.
#include <cstddef>
#include <functional>
#include <vector>

#include <tapegrad/autograd/tensor.hpp>

namespace tg {

class DataParallel {
 public:
  // Binds each replica's parameters to `params`' values: std::invalid_argument when a replica
  // has another number of parameters, or one of another shape or dtype (naming it).
  DataParallel(std::vector<Tensor> params, std::vector<std::vector<Tensor>> replicas);
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // 1 + the number of replicas.
  std::size_t shards() const { return 1 + replicas_.size(); }

  // Runs shard(s) for every s in [0, shards()) on the pool, then adds the mean over the shards
  // of the gradients they computed to the parameters' gradients (the replicas' gradients are
  // zeroed, their buffers kept for the next call). The first exception a shard throws is
  // rethrown after all have run; the gradients then hold what the failed backward left, as
  // after any failed backward(): zero_grad() before the next step.
  void run(const std::function<void(std::size_t shard)>& shard);

 private:
  void check_bound() const;

  std::vector<Tensor> params_;
  std::vector<std::vector<Tensor>> replicas_;
};

}  // namespace tg
