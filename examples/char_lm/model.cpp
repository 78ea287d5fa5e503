#include "model.hpp"

#include <sstream>
#include <stdexcept>

namespace charlm {
namespace {

std::size_t positive(const std::map<std::string, std::string>& m, const std::string& key) {
  const auto it = m.find(key);
  if (it == m.end()) throw std::invalid_argument("the checkpoint has no '" + key + "'");
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != it->second.size() || v == 0)
    throw std::invalid_argument("the checkpoint's '" + key + "' is not a positive integer: '" + it->second + "'");
  return std::size_t(v);
}

// Shortest text that reads back as the same double.
std::string exact_text(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

std::unique_ptr<tg::Recurrent> make_rnn(const ModelConfig& c) {
  const tg::RecurrentOptions o{c.layers, false, c.dropout};
  if (c.cell == "lstm") return std::make_unique<tg::LSTM>(c.embed, c.hidden, o);
  if (c.cell == "gru") return std::make_unique<tg::GRU>(c.embed, c.hidden, o);
  return std::make_unique<tg::RNN>(c.embed, c.hidden, o);
}

}  // namespace

std::map<std::string, std::string> ModelConfig::to_metadata() const {
  return {{"model.cell", cell},
          {"model.vocab", std::to_string(vocab)},
          {"model.layers", std::to_string(layers)},
          {"model.hidden", std::to_string(hidden)},
          {"model.embed", std::to_string(embed)},
          {"model.dropout", exact_text(dropout)}};
}

ModelConfig ModelConfig::from_metadata(const std::map<std::string, std::string>& m) {
  ModelConfig c;
  const auto cell = m.find("model.cell");
  if (cell == m.end()) throw std::invalid_argument("the checkpoint has no 'model.cell'; is it a char_lm checkpoint?");
  c.cell = cell->second;
  c.vocab = positive(m, "model.vocab");
  c.layers = positive(m, "model.layers");
  c.hidden = positive(m, "model.hidden");
  c.embed = positive(m, "model.embed");
  const auto d = m.find("model.dropout");
  c.dropout = d == m.end() ? 0.0 : std::stod(d->second);
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

CharLM::CharLM(const ModelConfig& c)
    : config_((c.validate(), c)), emb_(c.vocab, c.embed), rnn_(make_rnn(c)), out_(c.hidden, c.vocab) {
  register_module("emb", emb_);
  register_module("rnn", *rnn_);
  register_module("out", out_);
}

tg::Tensor CharLM::forward(const tg::IdTensor& ids, std::vector<tg::State>& state) const {
  auto r = rnn_->forward(emb_(ids), state);  // [T, B, E] -> [T, B, H]
  state = std::move(r.state);
  return out_(r.output);  // [T, B, V]
}

tg::Tensor CharLM::forward(const tg::IdTensor& ids, tg::TBPTT<float>& tbptt) const {
  return out_(tbptt.forward(emb_(ids)).output);
}

}  // namespace charlm
