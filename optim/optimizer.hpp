#pragma once
// The optimizer base: parameter groups (each with its own lr and weight decay), step(),
// zero_grad(), and per-parameter state (moments, step counts) that can be saved and restored.
//
// Note [which parameters step() updates]: PyTorch's rule. A parameter is updated only when it
// requires grad (frozen parameters are skipped) and has a gradient buffer. A parameter that
// has no gradient buffer (backward never reached it since it was created or since
// zero_grad(true), or it was frozen and unfrozen) is left alone: its value, moments and step
// count do not change. Reading its grad() does not give it one (Note [reading gradients] in
// tensor.hpp); only backward, grad_data() and the distributed gradient allreduce (for a
// parameter that another rank's backward reached) create a gradient. zero_grad()
// (set_to_none = false) keeps the buffers as zeros, so such a parameter *is* updated with a
// zero gradient (momentum and weight decay still act), exactly like PyTorch's
// zero_grad(set_to_none=False).
//
// Note [optimizer state names]: state() names every tensor "<what>.<parameter name>", e.g.
// "exp_avg.rnn.weight_ih_l0", "exp_avg_sq.rnn.weight_ih_l0", "step.rnn.weight_ih_l0", using
// PyTorch's state keys. A parameter's state exists once it has been updated at least once.
// In state(), step counts are 0-d tensors of the parameter's dtype; in float32 they are exact up
// to 2^24 steps, and state() refuses (std::overflow_error) rather than round a larger count.
// exact_state() hands the counts out as whole numbers instead (exact up to kMaxStepCount), and
// check_state / load_state take them that way too; checkpoints store them as I64 tensors.
//
// Note [optimizer state dtype]: a state tensor has its parameter's dtype. When Module::to()
// converts a parameter in place, the next step() converts that parameter's state to the new
// dtype before updating (float64 -> float32 rounds, as the parameter itself was rounded), so an
// optimizer built before the conversion keeps working on the same tensors. load_state converts
// float32/float64 state tensors to their parameter's dtype the same way.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/autograd/tensor.hpp>
#include <tapegrad/autograd/named_tensors.hpp>

namespace tg {

// Parameters sharing one lr and one weight decay ("no weight decay on biases" is two groups).
// An unset lr or weight decay takes the optimizer's value. Tensors given without names are
// called "<group>.<index>" ("0.0", "0.1", "1.0", ...) in the optimizer's state.
struct ParamGroup {
  NamedTensors params;
  std::optional<double> lr;
  std::optional<double> weight_decay;

  ParamGroup(NamedTensors named, std::optional<double> lr_ = std::nullopt,
              std::optional<double> weight_decay_ = std::nullopt)
      : params(std::move(named)), lr(lr_), weight_decay(weight_decay_) {}
  ParamGroup(const std::vector<Tensor>& tensors, std::optional<double> lr_ = std::nullopt,
              std::optional<double> weight_decay_ = std::nullopt)
      : lr(lr_), weight_decay(weight_decay_) {
    for (const auto& t : tensors) params.emplace_back(std::string(), t);
  }
};
// The usual recipe as two groups: every parameter of rank >= 2 (matrices, embeddings) keeps the
// optimizer's weight decay; every parameter of rank <= 1 (biases, gains) gets none.
std::vector<ParamGroup> weight_decay_groups(const NamedTensors& params);

// Step counts by state name ("step.<name>"), as whole numbers.
using StepCounts = std::vector<std::pair<std::string, std::int64_t>>;

// The optimizer: groups with their lr and weight decay, the parameters, and their state.
// Parameters may be float32 or float64 (even mixed); each one's state tensors have its dtype
// and follow it when Module::to() converts it (Note [optimizer state dtype]).
// Optimizers are neither copyable nor movable (schedulers hold a reference to theirs, and a
// copy would share the parameters but not the moments); hold them by value or unique_ptr.
class Optimizer {
 public:
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  virtual ~Optimizer() = default;
  virtual const char* name() const = 0;  // "SGD", "Adam", ...

  // One update of every parameter that requires grad and has a gradient (Note [which
  // parameters step() updates]).
  void step();
  // Zeroes every parameter's gradient; with set_to_none, releases the buffers instead, so
  // parameters that the next backward does not reach are skipped by step().
  void zero_grad(bool set_to_none = false);

  std::size_t num_groups() const { return lr_.size(); }
  double lr(std::size_t group = 0) const;
  void set_lr(double lr);  // every group
  void set_lr(std::size_t group, double lr);
  double weight_decay(std::size_t group = 0) const;
  void set_weight_decay(std::size_t group, double weight_decay);
  // The checks set_lr and set_weight_decay make (finite, >= 0), alone: std::invalid_argument
  // with the setter's message.
  static void check_lr(double lr);
  static void check_weight_decay(double weight_decay);

  // The largest step count a state may hold (below 2^53: exact as a double, and far from
  // overflowing when counted on).
  static constexpr long kMaxStepCount = 9000000000000000;

  // Every parameter, group by group, with its state name.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::size_t num_params() const;

  // A copy of the per-parameter state (Note [optimizer state names]).
  NamedTensors state() const;
  // Throws std::invalid_argument naming the first problem if `state` could not be loaded: an
  // unknown name, a shape that differs from the parameter's, a parameter with only part of
  // its state, a step count that is not a whole number >= 0, a name given twice.
  void check_state(const NamedTensors& state) const;
  // check_state(), then replaces the whole state (parameters absent from `state` start fresh).
  // Tensors of the other float dtype are converted to their parameter's. On any error nothing
  // changes.
  void load_state(const NamedTensors& state);

  // The state with exact step counts: `buffers` is state() without its "step.<name>" tensors,
  // `steps` holds those counts (Note [optimizer state names]). Never throws overflow_error.
  struct ExactState {
    NamedTensors buffers;
    StepCounts steps;
  };
  ExactState exact_state() const;
  // The same for a state split that way: `state` holds tensors (step counts among them or
  // not), `steps` more step counts; each name may be given once in all. A count must lie in
  // [0, kMaxStepCount].
  void check_state(const NamedTensors& state, const StepCounts& steps) const;
  void load_state(const NamedTensors& state, const StepCounts& steps);

 protected:
  // One parameter and its state, as update() sees it.
  struct Slot {
    Tensor param;
    std::string name;
    std::size_t group = 0;
    long step = 0;                 // updates so far, this one included
    bool fresh = true;             // no update yet: the buffers were just created
    std::vector<Tensor> buffers;   // one per state_names() entry: the param's shape and dtype
  };

  // state_names: the per-parameter buffers ("exp_avg", ...); counts_steps: whether a step count
  // is kept (and saved as "step.<name>"). Validates the groups: leaves only, no tensor twice,
  // no name twice, at least one parameter.
  Optimizer(const char* who, std::vector<ParamGroup> groups, double lr, double weight_decay,
            std::vector<std::string> state_names, bool counts_steps);

  // The value a buffer starts from (zeros unless overridden: Adagrad's accumulator).
  virtual double initial_value(std::size_t /*buffer*/) const { return 0.0; }
  // One parameter's update, given the group's lr and weight decay; slot.step already counts
  // this update and slot.buffers exist in the parameter's dtype.
  virtual void update(Slot& slot, double lr, double weight_decay) = 0;

  // std::invalid_argument "<who>: <what> must be <rule>, got <value>" unless ok.
  static void require(bool ok, const char* who, const char* what, const char* rule, double value);

 private:
  std::vector<double> lr_, weight_decay_;  // per group
  std::vector<Slot> slots_;
  std::vector<std::string> state_names_;
  bool counts_steps_;
};

}  // namespace tg
