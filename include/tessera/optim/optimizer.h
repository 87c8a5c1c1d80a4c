#pragma once
/// The optimizer base (torch::optim::Optimizer): parameter groups, each with its own copy of
/// the hyperparameters, per-parameter state, step / zero_grad, and a StateDict round trip that
/// restores the exact trajectory.
///
///   ts::optim::SGD opt(model->parameters(), ts::optim::SGDOptions(0.1).momentum(0.9));
///   ts::optim::AdamW opt({ts::optim::OptimizerParamGroup(weights),
///                         ts::optim::OptimizerParamGroup(norms_and_biases, AdamWOptions(1e-3).weight_decay(0))},
///                        ts::optim::AdamWOptions(1e-3));
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tessera/state_dict.h"
#include "tessera/tensor.h"

/// Declares a chainable option `name` of type T: `opts.name(v)` sets it and returns the
/// options, `opts.name()` reads it (libtorch's TORCH_ARG). Follow with `= default_value;`.
/// The class defines `self_type`, the type the setters return.
#define TS_OPTIM_ARG(T, name)                        \
 public:                                             \
  self_type& name(const T& new_value) {              \
    name##_ = new_value;                             \
    return static_cast<self_type&>(*this);           \
  }                                                  \
  const T& name() const noexcept { return name##_; } \
                                                     \
 private:                                            \
  T name##_

namespace ts::optim {

/// Hyperparameters of one parameter group. Each optimizer has its own options type.
class OptimizerOptions {
 public:
  virtual ~OptimizerOptions() = default;
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;
  /// The options type's name ("SGDOptions"), for error messages.
  virtual const char* type_name() const = 0;
  virtual double get_lr() const = 0;
  virtual void set_lr(double lr) = 0;
  /// Every hyperparameter by name, in a fixed order (booleans as 0 or 1): what a state dict
  /// saves under "param_groups.<g>.<name>".
  virtual std::vector<std::pair<std::string, double>> hyperparameters() const = 0;
  /// Sets the hyperparameter `name` (a name from hyperparameters()); false if there is none.
  virtual bool set_hyperparameter(const std::string& name, double value) = 0;
  /// Throws ts::Error naming `who` when a value is out of range (e.g. a negative lr).
  virtual void validate(const std::string& who) const = 0;

 protected:
  OptimizerOptions() = default;
  OptimizerOptions(const OptimizerOptions&) = default;
  OptimizerOptions& operator=(const OptimizerOptions&) = default;
};

/// Implements clone() for an options type.
template <typename Derived>
class OptimizerCloneableOptions : public OptimizerOptions {
 public:
  std::unique_ptr<OptimizerOptions> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }
};

/// Parameters that share hyperparameters. Without options, the group takes the optimizer's
/// defaults when added; options given here override all of them for this group.
class OptimizerParamGroup {
 public:
  OptimizerParamGroup(std::vector<Tensor> params);  // NOLINT(google-explicit-constructor): as libtorch
  OptimizerParamGroup(std::vector<Tensor> params, std::unique_ptr<OptimizerOptions> options);
  template <typename Options, typename = std::enable_if_t<std::is_base_of_v<OptimizerOptions, Options>>>
  OptimizerParamGroup(std::vector<Tensor> params, const Options& options)
      : OptimizerParamGroup(std::move(params), options.clone()) {}
  OptimizerParamGroup(const OptimizerParamGroup& other);
  OptimizerParamGroup& operator=(const OptimizerParamGroup& other);
  OptimizerParamGroup(OptimizerParamGroup&&) noexcept = default;
  OptimizerParamGroup& operator=(OptimizerParamGroup&&) noexcept = default;
  ~OptimizerParamGroup() = default;

  bool has_options() const noexcept { return options_ != nullptr; }
  OptimizerOptions& options();
  const OptimizerOptions& options() const;
  void set_options(std::unique_ptr<OptimizerOptions> options) { options_ = std::move(options); }
  std::vector<Tensor>& params() noexcept { return params_; }
  const std::vector<Tensor>& params() const noexcept { return params_; }

 private:
  std::vector<Tensor> params_;
  std::unique_ptr<OptimizerOptions> options_;
};

/// Per-parameter optimizer state (momentum buffers, moment estimates, step counts).
class ParamState {
 public:
  virtual ~ParamState() = default;
  /// The state as named tensors: state_dict saves them as "state.<param index>.<name>".
  virtual std::vector<std::pair<std::string, Tensor>> tensors() const = 0;
};

/// Evaluates the model and returns the loss (after calling backward).
using LossClosure = std::function<Tensor()>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Calls `closure` (if given, with grad mode on), then updates every parameter that has a
  /// gradient, one fused backend call per tensor. Returns the closure's loss, or an undefined
  /// tensor without one.
  Tensor step(const LossClosure& closure = nullptr);
  /// Clears the gradients: drops them (set_to_none), or zeroes them in place.
  void zero_grad(bool set_to_none = true);
  /// Adds a group; without options it takes a copy of the defaults. Parameters must be
  /// floating-point leaves that require grad, each in at most one group.
  void add_param_group(const OptimizerParamGroup& group);

  std::vector<OptimizerParamGroup>& param_groups() noexcept { return groups_; }
  const std::vector<OptimizerParamGroup>& param_groups() const noexcept { return groups_; }
  const OptimizerOptions& defaults() const noexcept { return *defaults_; }
  /// Every parameter, group by group: the numbering state_dict uses.
  std::vector<Tensor> parameters() const;
  /// Number of parameters over all groups.
  size_t size() const;
  /// "SGD", "Adam", "AdamW".
  const std::string& name() const noexcept { return name_; }
  /// The state of `param` (null before its first update).
  const ParamState* state(const Tensor& param) const;

  /// A snapshot (copies, not aliases) of the optimizer: for each parameter with state,
  /// "state.<i>.<name>" (i counts parameters over the groups in order), and for each group g,
  /// "param_groups.<g>.params" (int64 indices) and "param_groups.<g>.<hyperparameter>" (0-d
  /// float64). The layout follows torch.optim.Optimizer.state_dict().
  StateDict state_dict() const;
  /// Restores hyperparameters and state saved by state_dict() from an optimizer of the same
  /// type with groups of the same sizes. All-or-nothing: on any mismatch (group count or
  /// size, missing or unexpected keys, state shapes) it throws ts::Error and changes nothing.
  /// State tensors are copied to each parameter's dtype and device.
  void load_state_dict(const StateDict& dict);

 protected:
  Optimizer(std::string name, std::vector<OptimizerParamGroup> groups, std::unique_ptr<OptimizerOptions> defaults);

  /// Updates `param` in place from `grad` (same shape, dtype and device; grad mode is off),
  /// creating `state` on first use.
  virtual void update(const Tensor& param, const Tensor& grad, const OptimizerOptions& options,
                      std::unique_ptr<ParamState>& state) = 0;
  /// Rebuilds the state of `param` from the named tensors saved for it (all keyed
  /// `prefix` + name). Throws ts::Error naming the key on a missing, unexpected or
  /// mis-shaped entry. `options` are the group's (already restored) hyperparameters.
  virtual std::unique_ptr<ParamState> load_state(const Tensor& param, const OptimizerOptions& options,
                                                 const std::map<std::string, Tensor>& saved,
                                                 const std::string& prefix) const = 0;

 private:
  void check_group(const OptimizerParamGroup& group, size_t group_index) const;

  std::string name_;
  std::unique_ptr<OptimizerOptions> defaults_;
  std::vector<OptimizerParamGroup> groups_;
  std::unordered_map<const TensorImpl*, std::unique_ptr<ParamState>> state_;
};

}  // namespace ts::optim
