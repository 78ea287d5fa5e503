#pragma once
// The DESIGN §6 benchmark workload, shared by tapegrad_bench and tapegrad_dist_bench:
//   Embedding(V=65, E) -> cell (L layers, hidden H) -> Linear(H, V) -> cross-entropy,
//   Adam lr 2e-3, clip-norm 5, TBPTT with detach, float32, random tokens, fixed seed.
//   S: B=32, T=64, E=64, H=128, L=1 (op-overhead bound)   M: B=64, T=100, E=128, H=512, L=2 (GEMM bound)
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace tgbench {

struct WorkloadShape {
  std::size_t B, T, E, H, L, steps;  // steps: the default number of timed steps
};
// "S" or "M".
WorkloadShape workload_shape(const std::string& config);

class Workload {
 public:
  static constexpr std::size_t V = 65;
  // Seeds the RNG with 0, builds the model (cell: lstm, gru, rnn, or lnlstm, the LayerNorm-LSTM
  // cell in a generic Recurrent), then draws 4 blocks of random tokens [T, B].
  // Trains on streams [first, first + count) of the B (all of them by default).
  Workload(const WorkloadShape& shape, const std::string& cell, std::size_t first = 0, std::size_t count = 0);
  // Milliseconds of each phase of a step: the phases of the oneDNN reference's --profile, so the
  // two profiles line up.
  struct Phases {
    double emb_fwd = 0, rnn_fwd = 0, head_fwd = 0, ce = 0, backward = 0, clip_adam = 0;
    double total() const { return emb_fwd + rnn_fwd + head_fwd + ce + backward + clip_adam; }
  };
  // The loss of the next block (mean over T x count), then backward(); returns the time of each
  // of those phases (clip_adam 0).
  Phases forward_backward();
  // clip-norm 5, Adam step, zero_grad.
  void update();
  void step() {
    forward_backward();
    update();
  }
  // One step (forward_backward, then update), every phase timed.
  Phases profiled_step();
  const std::vector<tg::Tensor>& params() const { return params_; }
  std::size_t parameter_count() const;

 private:
  std::unique_ptr<tg::Embedding> emb_;
  std::unique_ptr<tg::Recurrent> rnn_;
  std::unique_ptr<tg::Linear> out_;
  std::vector<tg::Tensor> params_;
  std::unique_ptr<tg::Adam> opt_;
  std::unique_ptr<tg::TBPTT> tbptt_;
  std::vector<xt::xarray<int>> xs_, ys_;  // [T, count] each
  std::size_t k_ = 0;
};

}  // namespace tgbench
