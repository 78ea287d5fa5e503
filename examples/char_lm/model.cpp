#include "model.hpp"

#include <unistd.h>

#include <stdexcept>

#include "flags.hpp"
#include "options.hpp"

namespace charlm {
namespace {

std::size_t whole(const std::map<std::string, std::string>& m, const std::string& key, WholeRange range) {
  const auto it = m.find(key);
  if (it == m.end()) throw InputError("the checkpoint has no '" + key + "' in its metadata; is it a char_lm checkpoint?");
  return std::size_t(parse_whole_in(it->second, range, "the checkpoint's metadata '" + key + "'"));
}

std::unique_ptr<tg::Recurrent> make_rnn(const ModelConfig& c) {
  if (c.cell == "lstm")
    return std::make_unique<tg::LSTM>(tg::LSTMOptions(c.embed, c.hidden).num_layers(c.layers).dropout(c.dropout));
  if (c.cell == "gru")
    return std::make_unique<tg::GRU>(tg::GRUOptions(c.embed, c.hidden).num_layers(c.layers).dropout(c.dropout));
  return std::make_unique<tg::RNN>(tg::RNNOptions(c.embed, c.hidden).num_layers(c.layers).dropout(c.dropout));
}

}  // namespace

std::map<std::string, std::string> ModelConfig::to_metadata() const {
  return {{"model.cell", cell},
          {"model.vocab", std::to_string(vocab)},
          {"model.layers", std::to_string(layers)},
          {"model.hidden", std::to_string(hidden)},
          {"model.embed", std::to_string(embed)},
          {"model.dropout", tg::exact_text(dropout)}};
}

ModelConfig ModelConfig::from_metadata(const std::map<std::string, std::string>& m) {
  ModelConfig c;
  const auto cell = m.find("model.cell");
  if (cell == m.end()) throw InputError("the checkpoint has no 'model.cell' in its metadata; is it a char_lm checkpoint?");
  c.cell = cell->second;
  if (c.cell != "lstm" && c.cell != "gru" && c.cell != "rnn")
    throw InputError("the checkpoint's metadata 'model.cell' must be lstm, gru or rnn, got '" + tg::quote_input(c.cell, 40) + "'");
  c.vocab = whole(m, "model.vocab", {1, std::uint64_t(1) << 21});  // at most one id per code point
  c.layers = whole(m, "model.layers", limits::kLayers);
  c.hidden = whole(m, "model.hidden", limits::kWidth);
  c.embed = whole(m, "model.embed", limits::kWidth);
  const auto d = m.find("model.dropout");
  c.dropout = d == m.end() ? 0.0 : parse_real_in(d->second, limits::kDropout, "the checkpoint's metadata 'model.dropout'");
  c.validate();
  return c;
}

void ModelConfig::validate() const {
  if (cell != "lstm" && cell != "gru" && cell != "rnn")
    throw std::invalid_argument("unknown cell '" + cell + "' (expected lstm, gru or rnn)");
  if (vocab == 0 || layers == 0 || hidden == 0 || embed == 0)
    throw std::invalid_argument("--layers, --hidden and --embed must be positive");
  if (!(dropout >= 0.0 && dropout < 1.0)) throw std::invalid_argument("--dropout must be in [0, 1)");
}

std::vector<std::pair<std::string, tg::Shape>> ModelConfig::parameter_shapes() const {
  const std::size_t G = cell == "lstm" ? 4 : cell == "gru" ? 3 : 1;  // gates stacked in the weights
  std::vector<std::pair<std::string, tg::Shape>> shapes{{"emb.weight", {vocab, embed}}};  // [V, E]
  for (std::size_t l = 0; l < layers; ++l) {
    const std::string k = std::to_string(l);
    shapes.push_back({"rnn.weight_ih_l" + k, {G * hidden, l == 0 ? embed : hidden}});  // [G*H, E or H]
    shapes.push_back({"rnn.weight_hh_l" + k, {G * hidden, hidden}});                   // [G*H, H]
    shapes.push_back({"rnn.bias_ih_l" + k, {G * hidden}});
    shapes.push_back({"rnn.bias_hh_l" + k, {G * hidden}});
  }
  shapes.push_back({"out.weight", {vocab, hidden}});  // [V, H]
  shapes.push_back({"out.bias", {vocab}});
  return shapes;
}

std::uint64_t ModelConfig::parameter_count() const {
  std::uint64_t n = 0;
  for (const auto& [name, shape] : parameter_shapes()) n += tg::numel(shape);
  return n;
}

void check_memory(const ModelConfig& c, std::size_t batch, std::size_t block) {
  const double gates = c.cell == "lstm" ? 4 : c.cell == "gru" ? 3 : 1;
  const double params = double(c.parameter_count());
  // Weights, gradients and two optimizer moments; per token, the tape keeps the embedding,
  // each layer's gate projections and states, and the logits with their softmax.
  const double per_token = double(c.embed) + double(c.layers) * double(c.hidden) * (3 * gates + 4) + 3.0 * double(c.vocab);
  const double bytes = 4 * (4 * params + double(batch) * double(block) * per_token);
  const double memory = double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGE_SIZE));
  if (memory > 0 && bytes > memory)
    throw InputError("this model and batch need about " + std::to_string(long(bytes / (1 << 20))) +
                     " MiB, more than the machine's " + std::to_string(long(memory / (1 << 20))) +
                     " MiB; use smaller --hidden, --layers, --embed, --batch or --block");
}

CharLM::CharLM(const ModelConfig& c)
    : config_((c.validate(), c)), emb_(c.vocab, c.embed), rnn_(make_rnn(c)), out_(c.hidden, c.vocab) {
  register_module("emb", emb_);
  register_module("rnn", *rnn_);
  register_module("out", out_);
  // The shapes promised without building the model (checkpoints are checked against them).
  const auto promised = config_.parameter_shapes();
  const tg::NamedTensors built = named_parameters();
  bool same = promised.size() == built.size();
  for (std::size_t i = 0; same && i < built.size(); ++i)
    same = promised[i].first == built[i].first && promised[i].second == built[i].second.shape();
  if (!same) throw std::logic_error("CharLM: its parameters differ from ModelConfig::parameter_shapes()");
}

tg::Tensor CharLM::forward(const tg::IdTensor& ids, std::vector<tg::State>& state) const {
  auto r = rnn_->forward(emb_(ids), state);  // [T, B, E] -> [T, B, H]
  state = std::move(r.states);
  return out_(r.output);  // [T, B, V]
}

tg::Tensor CharLM::forward(const tg::IdTensor& ids, tg::TBPTT& tbptt) const {
  return out_(tbptt.forward(emb_(ids)).output);
}

}  // namespace charlm
