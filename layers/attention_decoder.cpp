#include <tapegrad/layers/attention_decoder.hpp>

#include <stdexcept>
#include <string>

#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

constexpr const char* kName = "AttentionDecoderCell";

std::size_t input_width(const Cell& inner, std::size_t memory_size) {
  if (memory_size == 0 || inner.input_size() <= memory_size)
    throw std::invalid_argument(std::string(kName) + ": the inner cell reads [x ; context], so its input size (" +
                                std::to_string(inner.input_size()) + ") must exceed the memory size (" +
                                std::to_string(memory_size) + "), which must be positive");
  return inner.input_size() - memory_size;
}

[[noreturn]] void throw_needs_context() {
  throw std::invalid_argument(std::string(kName) +
                              ": the step reads the encoder memory; give it as a CellContext (RunCellOptions::context "
                              "for run_cell, or forward(x, state, context))");
}

const Cell& checked(const std::unique_ptr<Cell>& inner) {
  if (!inner) throw std::invalid_argument(std::string(kName) + ": the inner cell is null");
  return *inner;
}

}  // namespace

AttentionDecoderCell::AttentionDecoderCell(std::unique_ptr<Cell> inner, std::size_t memory_size, AttentionScore score)
    : Cell(input_width(checked(inner), memory_size), checked(inner).hidden_size(), kName),
      inner_(std::move(inner)),
      memory_size_(memory_size),
      score_(score),
      combine_(memory_size + hidden_size_, hidden_size_) {
  const std::size_t H = hidden_size_, D = memory_size;
  if (score == AttentionScore::dot && D != H)
    throw std::invalid_argument(std::string(kName) + ": the dot score needs memory size = hidden size, got " +
                                std::to_string(D) + " and " + std::to_string(H));
  register_module("cell", *inner_);
  if (score == AttentionScore::general) {
    general_ = std::make_unique<LuongAttention>(H, D);
    register_module("attention", *general_);
  } else if (score == AttentionScore::additive) {
    additive_ = std::make_unique<BahdanauAttention>(H, D, H);
    register_module("attention", *additive_);
  }
  register_module("combine", combine_);
}

std::size_t AttentionDecoderCell::state_width(std::size_t k) const {
  if (k == 0) return hidden_size_;
  if (k + 1 == state_size()) return memory_size_;
  return inner_->state_width(k - 1);
}

State AttentionDecoderCell::step(const Tensor&, const State&) const { throw_needs_context(); }

void AttentionDecoderCell::check_context(const CellContext& context, std::size_t batch) const {
  if (context.empty()) throw_needs_context();
  if (context.tensors.size() != 1 || context.masks.size() > 1)
    throw std::invalid_argument(std::string(kName) + ": the context must hold the memory [S, B, D] and at most one mask "
                                "[S, B], got " + std::to_string(context.tensors.size()) + " tensors and " +
                                std::to_string(context.masks.size()) + " masks");
  const Tensor& memory = context.tensors[0];
  if (!memory.defined() || memory.dim() != 3 || memory.shape()[1] != batch || memory.shape()[2] != memory_size_)
    throw std::invalid_argument(std::string(kName) + ": the memory must be [S, B, D] = [S, " + std::to_string(batch) +
                                ", " + std::to_string(memory_size_) + "], got " +
                                (memory.defined() ? to_string(memory.shape()) : "undefined"));
}

Attended AttentionDecoderCell::attend_memory(const Tensor& query, const CellContext& context) const {
  const Tensor& memory = context.tensors[0];  // checked by check_context
  const bool masked = !context.masks.empty();
  switch (score_) {
    case AttentionScore::dot:
      return masked ? scaled_dot_product_attention(query, memory, memory, context.masks[0])
                    : scaled_dot_product_attention(query, memory, memory);
    case AttentionScore::general:
      return masked ? (*general_)(query, memory, memory, context.masks[0]) : (*general_)(query, memory, memory);
    case AttentionScore::additive:
      return masked ? (*additive_)(query, memory, memory, context.masks[0]) : (*additive_)(query, memory, memory);
  }
  throw std::logic_error("AttentionDecoderCell: unknown score");  // unreachable: every enumerator returns
}

AttentionStep AttentionDecoderCell::step_with_weights(const Tensor& x, const State& state,
                                                      const CellContext& context) const {
  check_input(x);
  check_state(state, x.shape()[0], kName);
  return attention_step(x, state, context);
}

// run_cell and Cell::forward have checked the input and the state.
State AttentionDecoderCell::step_in_context(const Tensor& xp, const State& state, const CellContext& context) const {
  return attention_step(xp, state, context).state;
}

AttentionStep AttentionDecoderCell::attention_step(const Tensor& x, const State& state,
                                                   const CellContext& context) const {
  check_context(context, x.shape()[0]);
  const Tensor& previous_context = state.back();                        // [B, D]
  const State inner_state(state.begin() + 1, state.end() - 1);         // {h, (c)}
  State next_inner = inner_->forward(concat({x, previous_context}, 1), inner_state);  // input feeding: [B, E + D]
  const Attended a = attend_memory(next_inner[0], context);             // query h_t [B, H]
  AttentionStep out;
  out.state.push_back(tanh(combine_(concat({a.context, next_inner[0]}, 1))));  // [B, D + H] -> [B, H]
  for (Tensor& s : next_inner) out.state.push_back(std::move(s));
  out.state.push_back(a.context);
  out.weights = a.weights;  // [B, S]
  return out;
}

State AttentionDecoderCell::initial_state_from(const State& inner_state) const {
  if (inner_state.empty() || !inner_state[0].defined() || inner_state[0].dim() != 2)
    throw std::invalid_argument(std::string(kName) + ": initial_state_from needs the inner cell's state");
  const std::size_t B = inner_state[0].shape()[0];
  inner_->check_state(inner_state, B, "AttentionDecoderCell::initial_state_from");
  State state{Tensor::zeros({B, hidden_size_}, dtype())};  // the output
  state.insert(state.end(), inner_state.begin(), inner_state.end());
  state.push_back(Tensor::zeros({B, memory_size_}, dtype()));  // the context
  return state;
}

}  // namespace tg
