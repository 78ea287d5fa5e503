#pragma once
// Checkpoints: a model's parameters, and optionally an optimizer's state, a learning-rate
// schedule's position, extra tensors and caller metadata, in one safetensors file.
//
//   tensors   "<parameter name>"         the model's named_parameters() (PyTorch names)
//             "optim.<state name>"       optimizer.state(): "optim.exp_avg.rnn.weight_ih_l0", ...
//             "extra.<name>"             extra tensors (a carried hidden state, ...)
//   metadata  "tapegrad.checkpoint_version"  "1"
//             "tapegrad.optimizer"           "Adam"; ".groups" count; ".group.<g>.lr" and
//                                            ".group.<g>.weight_decay" (exact decimal text)
//             "tapegrad.scheduler"           "LinearWarmup(CosineAnnealingLR)"; ".last_step";
//                                            ".base_lr.<g>"
//             "crc32", "header_crc32"        Note [checkpoint CRCs] in safetensors.hpp
//             every caller key, as given (keys starting with "tapegrad." are reserved)
//
// Note [loading changes nothing on failure]: load_checkpoint reads and checks everything first
// (the file's structure and CRCs, its format version, every expected name, dtype and shape,
// the optimizer's kind, groups and state, the extra tensors, the schedule) and only then copies
// into the model, optimizer, extra tensors and scheduler. Any problem is a CheckpointError that
// names the file and the problem, and leaves all of them exactly as they were.
#include <map>
#include <string>

#include <tapegrad/io/safetensors.hpp>
#include <tapegrad/layers/module.hpp>
#include <tapegrad/optim/optimizer.hpp>
#include <tapegrad/optim/schedule.hpp>

namespace tg {

namespace detail {
template <class T>
struct NonDeduced {
  using type = T;
};
}  // namespace detail

// Writes a checkpoint atomically (see save_safetensors). std::invalid_argument for a caller
// metadata key that is reserved, an extra tensor named twice, or a parameter whose name
// starts with "optim." or "extra.".
template <class T>
void save_checkpoint(const std::string& path, const ModuleT<T>& model,
                     const OptimizerT<typename detail::NonDeduced<T>::type>* optimizer = nullptr,
                     const NamedTensorsT<typename detail::NonDeduced<T>::type>& extra = {},
                     const std::map<std::string, std::string>& metadata = {},
                     const LRScheduler* scheduler = nullptr);

// Loads a checkpoint into `model` and, when given, `optimizer` (its state, group lrs and weight
// decays), the `extra` tensors (each "extra.<name>" must exist with that tensor's dtype and
// shape; extras the file holds but `extra` does not name are ignored) and `scheduler`. The file
// must hold exactly the model's parameters (a missing or unexpected one is an error); an
// optimizer state it holds is ignored when `optimizer` is null. Returns the caller metadata.
// Note [loading changes nothing on failure].
template <class T>
std::map<std::string, std::string> load_checkpoint(
    const std::string& path, ModuleT<T>& model,
    OptimizerT<typename detail::NonDeduced<T>::type>* optimizer = nullptr,
    const NamedTensorsT<typename detail::NonDeduced<T>::type>& extra = {},
    LRScheduler* scheduler = nullptr);

// The caller metadata of a checkpoint, after checking its CRCs and format version (read it to
// rebuild the model before load_checkpoint).
std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path);

extern template void save_checkpoint(const std::string&, const ModuleT<float>&,
                                     const OptimizerT<float>*, const NamedTensorsT<float>&,
                                     const std::map<std::string, std::string>&, const LRScheduler*);
extern template void save_checkpoint(const std::string&, const ModuleT<double>&,
                                     const OptimizerT<double>*, const NamedTensorsT<double>&,
                                     const std::map<std::string, std::string>&, const LRScheduler*);
extern template std::map<std::string, std::string> load_checkpoint(
    const std::string&, ModuleT<float>&, OptimizerT<float>*, const NamedTensorsT<float>&,
    LRScheduler*);
extern template std::map<std::string, std::string> load_checkpoint(
    const std::string&, ModuleT<double>&, OptimizerT<double>*, const NamedTensorsT<double>&,
    LRScheduler*);

}  // namespace tg
