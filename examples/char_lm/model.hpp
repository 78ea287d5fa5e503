#pragma once
// The character-level language model: Embedding(V, E) -> RNN/LSTM/GRU (L layers, hidden H)
// -> Linear(H, V), with the reference script's PyTorch names (emb.*, rnn.*, out.*).
//   T block length, B batch (streams), V vocabulary, E embedding, H hidden, L layers
#include <map>
#include <memory>
#include <string>

#include <tapegrad/tapegrad.hpp>

namespace charlm {

struct ModelConfig {
  std::string cell = "lstm";  // lstm | gru | rnn
  std::size_t vocab = 0, layers = 1, hidden = 256, embed = 64;
  double dropout = 0.0;

  // As checkpoint metadata ("model.cell", ...), and back (std::invalid_argument if malformed).
  std::map<std::string, std::string> to_metadata() const;
  static ModelConfig from_metadata(const std::map<std::string, std::string>& m);
  // std::invalid_argument naming the bad value.
  void validate() const;
  // The parameters' names and shapes (PyTorch's), and their count, computed without building
  // the model; the constructor checks that the model it builds has exactly these.
  std::vector<std::pair<std::string, tg::Shape>> parameter_shapes() const;
  std::uint64_t parameter_count() const;
};

// InputError when the model, trained (or, with batch = block = 1, run) on [T, B] blocks, would
// need more memory than the machine has: checked before anything is allocated.
void check_memory(const ModelConfig& config, std::size_t batch, std::size_t block);

class CharLM : public tg::Module {
 public:
  explicit CharLM(const ModelConfig& config);
  // ids [T, B] from `state` ({} = zeros) -> logits [T, B, V]; `state` becomes the final state.
  // Truncated BPTT: when `tbptt` is given, it carries (and detaches) the state instead.
  tg::Tensor forward(const tg::IdTensor& ids, std::vector<tg::State>& state) const;
  tg::Tensor forward(const tg::IdTensor& ids, tg::TBPTT& tbptt) const;
  const ModelConfig& config() const { return config_; }
  const tg::Recurrent& rnn() const { return *rnn_; }

 private:
  ModelConfig config_;
  tg::Embedding emb_;
  std::unique_ptr<tg::Recurrent> rnn_;
  tg::Linear out_;
};

}  // namespace charlm
