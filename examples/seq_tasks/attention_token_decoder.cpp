#include "attention_token_decoder.hpp"

#include <memory>

#include "token_decoder.hpp"

namespace seqtasks {

AttentionTokenDecoder::AttentionTokenDecoder(std::size_t vocab, std::size_t embed, std::size_t hidden,
                                             std::size_t memory)
    : emb_(vocab, embed),
      cell_(std::make_unique<tg::LSTMCell>(embed + memory, hidden), memory, tg::AttentionScore::general),
      head_(hidden, vocab) {
  register_module("emb", emb_);
  register_module("cell", cell_);
  register_module("head", head_);
}

tg::Tensor AttentionTokenDecoder::loss(const EncodedSource& source, const std::vector<Tokens>& targets) const {
  const TeacherForcing tf = teacher_forcing(targets);
  const std::size_t T = tf.inputs.ids.shape()[0], B = targets.size();
  const tg::Tensor x = tg::reshape(emb_(tf.inputs.ids), {T * B, emb_.weight.shape()[1]});  // [T*B, E]
  const auto options = tg::RunCellOptions().context({{source.memory}, {source.mask}});
  const tg::SequenceRun run = tg::run_cell(cell_, x, T, cell_.initial_state_from(source.final_state), tf.mask, options);
  const tg::Tensor logits = tg::reshape(head_(run.outputs), {T, B, head_.out_features()});  // [T, B, V]
  return tg::cross_entropy(logits, tf.outputs.ids, tf.mask.as_ids());
}

AttentionDecoding AttentionTokenDecoder::greedy(const EncodedSource& source, std::size_t max_steps) const {
  tg::NoGradGuard no_grad;
  const tg::CellContext context{{source.memory}, {source.mask}};
  tg::State state = cell_.initial_state_from(source.final_state);
  GreedyTokens out(source.memory.shape()[1]);
  AttentionDecoding decoded;
  for (std::size_t t = 0; t < max_steps; ++t) {
    tg::AttentionStep step = cell_.step_with_weights(emb_(out.next_input()), state, context);  // x [B, E]
    decoded.weights.push_back(step.weights.to_xarray<double>());                             // [B, S]
    state = std::move(step.state);
    if (out.add(head_(state[0]))) break;  // logits [B, V]
  }
  decoded.tokens = out.tokens();
  return decoded;
}

}  // namespace seqtasks
