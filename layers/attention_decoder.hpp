#pragma once
// AttentionDecoderCell: a recurrent decoder step that attends to an encoder's outputs, with
// input feeding (Luong et al. 2015), as a plain composition of a cell and the attention ops, so
// BPTT runs through the attention and a variant is a few lines of user code.
//   B batch, E input (embedding), H hidden, D memory (encoder output) width, S source steps
// At step t, with the encoder memory [S, B, D] and its mask [S, B] (1 = valid) as the run's
// CellContext:
//   h_t, (c_t)  = inner([x_t ; context_{t-1}], (h_{t-1}, c_{t-1}))    inner: any cell, input E + D
//   context_t   = attention(query h_t, keys = values = memory, mask)  [B, D]
//   out_t       = tanh(W_c [context_t ; h_t] + b_c)                   [B, H], the step's output
// State: {out [B, H], the inner cell's state ([B, H] each), context [B, D]}. The output feeds
// the head; the context is fed back with the next input.
#include <memory>

#include <tapegrad/layers/attention.hpp>
#include <tapegrad/layers/cell.hpp>
#include <tapegrad/layers/linear.hpp>

namespace tg {

// Luong's names for the score of query h and key k: dot is h · k / √D (needs D = H), general
// h W k, additive (Bahdanau's) vᵀ tanh(W h + U k) with an attention size of H.
enum class AttentionScore { dot, general, additive };

// One step's new state and its attention weights [B, S] (for pictures and diagnostics).
struct AttentionStep {
  State state;
  Tensor weights;
};

class AttentionDecoderCell : public Cell {
 public:
  // `inner` reads [x ; context]: its input size is E + memory_size, and its hidden size is H.
  AttentionDecoderCell(std::unique_ptr<Cell> inner, std::size_t memory_size,
                       AttentionScore score = AttentionScore::general);

  std::size_t state_size() const override { return inner_->state_size() + 2; }
  std::size_t state_width(std::size_t k) const override;
  std::size_t memory_size() const { return memory_size_; }
  const Cell& inner() const { return *inner_; }

  // Identity: the input projection depends on the previous context, so it runs inside the step.
  Tensor project_input(const Tensor& x) const override { return x; }
  // std::invalid_argument: the cell needs the memory (run it with a CellContext).
  State step(const Tensor& xp, const State& state) const override;
  // context = {tensors {memory [S, B, D]}, masks {} or {mask [S, B]}}.
  State step_in_context(const Tensor& xp, const State& state, const CellContext& context) const override;
  AttentionStep step_with_weights(const Tensor& x, const State& state, const CellContext& context) const;

  // The decoder's first state from the inner cell's (an encoder's final state, say): zero
  // output and context around it.
  State initial_state_from(const State& inner_state) const;

 private:
  // std::invalid_argument naming what is wrong unless context = {{memory [S, B, D]}, {} or {mask}}.
  void check_context(const CellContext& context, std::size_t batch) const;
  Attended attend_memory(const Tensor& query, const CellContext& context) const;
  // One step without the input and state checks (its callers have made them).
  AttentionStep attention_step(const Tensor& x, const State& state, const CellContext& context) const;

  std::unique_ptr<Cell> inner_;
  std::size_t memory_size_;
  AttentionScore score_;
  std::unique_ptr<LuongAttention> general_;      // score general
  std::unique_ptr<BahdanauAttention> additive_;  // score additive
  Linear combine_;                               // W_c [H, D + H], b_c [H]
};

}  // namespace tg
