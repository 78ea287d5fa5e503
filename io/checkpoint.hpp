#pragma once
// Checkpoints: a model's parameters, and optionally an optimizer's state, a learning-rate
// schedule's position, extra tensors and caller metadata, in one safetensors file. The optional
// parts are named in SaveCheckpointOptions / LoadCheckpointOptions (checkpoint_options.hpp):
//
//   tg::save_checkpoint(path, model, tg::SaveCheckpointOptions().optimizer(opt).scheduler(sched)
//                                        .extra({{"hidden", h}}).metadata({{"cell", "lstm"}}));
//   auto meta = tg::load_checkpoint(path, model, tg::LoadCheckpointOptions().optimizer(opt)
//                                                    .scheduler(sched).extra({{"hidden", h}}));
//   tg::save_checkpoint(path, model);  // the model only; load_checkpoint(path, model) likewise
//
//   tensors   "<parameter name>"         the model's named_parameters() (PyTorch names)
//             "optim.<state name>"       optimizer.exact_state(): "optim.exp_avg.rnn.weight_ih_l0",
//                                        ...; step counts "optim.step.<name>" as 0-d I64 (exact
//                                        to Optimizer::kMaxStepCount; the first release wrote
//                                        0-d F32/F64, exact in float only to 2^24: still read)
//             "extra.<name>"             extra tensors (a carried hidden state, ...)
//   metadata  "tapegrad.checkpoint_version"  "2" when the file holds I64 step counts, else "1"
//                                            (Note [checkpoint versions]); both are read
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
// names the file and the problem, and leaves all of them exactly as they were. In code:
// gather (read the file into a plan), validate, commit (the only step that writes).
//
// Note [dtypes across files]: a float tensor of the file (F32 or F64) loads into a tensor of
// either dtype and is converted to it, so a float32 model's checkpoint loads into the same model
// converted to float64 (Module::to) and back. A value that is finite in the file but overflows
// float32 on the way down is a CheckpointError naming the tensor and the element, and nothing
// changes; any other dtype (an I64 tensor where a float one is expected) is refused as before.
// Optimizer state tensors convert to their parameter's dtype.
//
// Every value is checked (Note [hostile files] in safetensors.hpp for the file itself): every
// float value a load copies (parameters, optimizer state, extras) must be finite, so a NaN or
// infinity is a CheckpointError naming the tensor and the element; metadata numbers are
// decimal only (tg::parse_finite / tg::parse_whole: "010" is ten, "0x10", "nan", "1e400" are
// refused); lrs and weight decays pass the optimizer's own checks (Optimizer::check_lr,
// check_weight_decay), group counts must match (and be at most 1,000,000), step counts and the
// schedule's last_step lie in [0, Optimizer::kMaxStepCount], base lrs and the lrs they give
// pass the schedule's check_state. Failures of the system (the file cannot be opened or read,
// is not a regular file) are FileIoError.
#include <map>
#include <string>

#include <tapegrad/io/checkpoint_options.hpp>
#include <tapegrad/io/safetensors.hpp>
#include <tapegrad/layers/module.hpp>

namespace tg {

// Writes a checkpoint of `model` and what `options` names, atomically (see save_safetensors;
// FileIoError when it cannot be written, the old file left as it was). std::invalid_argument
// for a caller metadata key that is reserved, an extra tensor named twice, or a parameter whose
// name starts with "optim." or "extra.". Non-finite values are written as they are (and refused
// by load_checkpoint).
void save_checkpoint(const std::string& path, const Module& model, const SaveCheckpointOptions& options = {});

// Loads a checkpoint into `model` and, when `options` names them, the optimizer (its state,
// group lrs and weight decays), the extra tensors (each "extra.<name>" must exist with that
// tensor's shape; extras the file holds but the options do not name are ignored) and the
// scheduler. The file must hold exactly the model's parameters (a missing or unexpected one is
// an error); an optimizer state or schedule it holds is ignored when the options name none.
// Returns the caller metadata. Note [loading changes nothing on failure].
std::map<std::string, std::string> load_checkpoint(const std::string& path, Module& model,
                                                   const LoadCheckpointOptions& options = {});

// The caller metadata of a checkpoint, after checking its CRCs and format version (read it to
// rebuild the model before load_checkpoint).
std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path);

// The caller metadata and every tensor's shape, after the same checks: a program that builds
// its model from the metadata compares the model's shapes with the file's before allocating it.
struct CheckpointSummary {
  std::map<std::string, std::string> metadata;
  std::map<std::string, Shape> shapes;  // every tensor of the file, by name
};
CheckpointSummary read_checkpoint_summary(const std::string& path);

}  // namespace tg
