#include "workload.hpp"

#include <chrono>

#include <xtensor/xview.hpp>

namespace tgbench {

WorkloadShape workload_shape(const std::string& config) {
  return config == "S" ? WorkloadShape{32, 64, 64, 128, 1, 100} : WorkloadShape{64, 100, 128, 512, 2, 6};
}

Workload::Workload(const WorkloadShape& w, const std::string& cell, std::size_t first, std::size_t count) {
  if (count == 0) count = w.B;
  // The draw order is fixed: seed, embedding, recurrent layers, output, then the tokens.
  tg::manual_seed(0);
  emb_ = std::make_unique<tg::Embedding>(V, w.E);
  if (cell == "lstm") rnn_ = std::make_unique<tg::LSTM>(tg::LSTMOptions(w.E, w.H).num_layers(w.L));
  else if (cell == "gru") rnn_ = std::make_unique<tg::GRU>(tg::GRUOptions(w.E, w.H).num_layers(w.L));
  else if (cell == "rnn") rnn_ = std::make_unique<tg::RNN>(tg::RNNOptions(w.E, w.H).num_layers(w.L));
  else  // "lnlstm": a cell written as a user would (layers/layernorm_lstm_cell.cpp), in Recurrent
    rnn_ = std::make_unique<tg::Recurrent>(tg::RecurrentOptions(w.E, w.H).num_layers(w.L),
                                           [](std::size_t in, std::size_t h) {
                                             return std::make_unique<tg::LayerNormLSTMCell>(in, h);
                                           });
  out_ = std::make_unique<tg::Linear>(w.H, V);
  params_ = emb_->parameters();
  for (const tg::Module* m : {static_cast<const tg::Module*>(rnn_.get()), static_cast<const tg::Module*>(out_.get())})
    for (auto& p : m->parameters()) params_.push_back(p);
  opt_ = std::make_unique<tg::Adam>(params_, tg::AdamOptions(2e-3));
  tbptt_ = std::make_unique<tg::TBPTT>(*rnn_, w.T);
  // A few blocks of random tokens, cycled: inputs and targets [T, B], this rank's columns.
  for (int k = 0; k < 4; ++k) {
    xt::xarray<int> x = xt::xarray<int>::from_shape({w.T, w.B}), y = x;
    for (auto& v : x) v = int(tg::randint(V));
    for (auto& v : y) v = int(tg::randint(V));
    xs_.push_back(xt::view(x, xt::all(), xt::range(first, first + count)));  // [T, count]
    ys_.push_back(xt::view(y, xt::all(), xt::range(first, first + count)));
  }
}

namespace {
using Clock = std::chrono::steady_clock;
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

Workload::Phases Workload::forward_backward() {
  Phases p;
  Clock::time_point t0, t1, t2, t3, t4;
  tg::Tensor loss;
  {  // the intermediates' handles end before backward, as in one expression (Note [unread values])
    t0 = Clock::now();
    const tg::Tensor x = (*emb_)(xs_[k_ % 4]);
    t1 = Clock::now();
    const tg::Tensor h = tbptt_->forward(x).output;
    t2 = Clock::now();
    const tg::Tensor logits = (*out_)(h);
    t3 = Clock::now();
    loss = tg::cross_entropy(logits, ys_[k_ % 4]);
    t4 = Clock::now();
  }
  ++k_;
  loss.backward();
  const auto t5 = Clock::now();
  p.emb_fwd = ms_between(t0, t1);
  p.rnn_fwd = ms_between(t1, t2);
  p.head_fwd = ms_between(t2, t3);
  p.ce = ms_between(t3, t4);
  p.backward = ms_between(t4, t5);
  return p;
}

Workload::Phases Workload::profiled_step() {
  Phases p = forward_backward();
  const auto t0 = Clock::now();
  update();
  p.clip_adam = ms_between(t0, Clock::now());
  return p;
}

void Workload::update() {
  tg::clip_grad_norm(params_, 5.0);
  opt_->step();
  opt_->zero_grad();
}

std::size_t Workload::parameter_count() const {
  std::size_t n = 0;
  for (const auto& p : params_) n += p.numel();
  return n;
}

}  // namespace tgbench
