#pragma once
/// ts::nn::Module: the base of every layer and model (torch::nn::Module). A module owns named
/// parameters (leaf tensors that require grad), buffers (state saved with the model but not
/// trained, e.g. BatchNorm's running statistics) and child modules held by std::shared_ptr.
///
///   struct Net : ts::nn::Module {
///     std::shared_ptr<ts::nn::Linear> fc1, fc2;
///     Net() {
///       fc1 = register_module("fc1", std::make_shared<ts::nn::Linear>(784, 128));
///       fc2 = register_module("fc2", std::make_shared<ts::nn::Linear>(128, 10));
///     }
///     ts::Tensor forward(const ts::Tensor& x) { return fc2->forward(ts::relu(fc1->forward(x))); }
///   };
///
/// Tensor handles returned by register_parameter/register_buffer stay valid for the module's
/// lifetime: to(device/dtype) and load_state_dict() update the registered tensors in place, so
/// members holding them (and optimizers holding parameters()) keep seeing the live values.
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/state_dict.h"
#include "tessera/tensor.h"

namespace ts::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// What load_state_dict found when strict is false (with strict, any of these is an error).
struct LoadStateDictResult {
  std::vector<std::string> missing_keys;     ///< expected by the module, absent from the dict
  std::vector<std::string> unexpected_keys;  ///< present in the dict, unknown to the module
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  /// `type_name` is what printing shows; empty = the demangled C++ class name.
  explicit Module(std::string type_name = {});
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The module's type name ("Linear", "Net", ...).
  const std::string& name() const;

  // ---- registration ------------------------------------------------------------------------
  /// Registers `tensor` as parameter `name` and returns the handle to keep in a member. A
  /// tensor with history is detached first, so parameters are always leaves.
  Tensor register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  /// Registers a buffer (saved in state_dict, moved by to(), never trained).
  Tensor register_buffer(const std::string& name, Tensor tensor);
  /// Registers `module` as child `name` and returns it (typed, for keeping in a member).
  template <typename M> std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module, M>, "register_module: M must derive from ts::nn::Module");
    register_module_impl(name, module);
    return module;
  }
  /// Replaces the already registered child `name` (e.g. swapping a classifier head).
  template <typename M> std::shared_ptr<M> replace_module(const std::string& name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module, M>, "replace_module: M must derive from ts::nn::Module");
    replace_module_impl(name, module);
    return module;
  }

  // ---- traversal (registration order; children after the module's own tensors) --------------
  std::vector<Tensor> parameters(bool recurse = true) const;
  /// Dotted names relative to this module: "layer1.0.conv1.weight".
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  /// This module (when include_self; it must then be owned by a shared_ptr) and all
  /// descendants, depth first.
  std::vector<std::shared_ptr<Module>> modules(bool include_self = true);
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules(const std::string& prefix = {},
                                                                             bool include_self = true);
  /// Calls `fn` on every descendant and then on this module (children first, like PyTorch).
  void apply(const std::function<void(Module&)>& fn);
  /// Number of parameter elements (optionally only those that require grad).
  int64_t num_parameters(bool only_trainable = false) const;

  // ---- mode ----------------------------------------------------------------------------------
  /// Sets training mode on this module and all descendants.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ---- conversion / gradients -------------------------------------------------------------
  /// Moves every parameter and buffer in place; parameters stay leaves with their
  /// requires_grad flag, and existing gradients move along.
  void to(Device device);
  /// Converts floating-point parameters and buffers in place (integer buffers such as
  /// num_batches_tracked keep their dtype, like PyTorch).
  void to(DType dtype);
  void to(Device device, DType dtype);
  /// Clears (set_to_none) or zeroes the gradients of all parameters.
  void zero_grad(bool set_to_none = true);

  // ---- state -----------------------------------------------------------------------------
  /// Parameters and buffers under dotted names. The tensors are detached aliases of the live
  /// ones (no copy): clone them to keep a snapshot.
  StateDict state_dict() const;
  /// Copies values from `dict` into the registered tensors in place (converting dtype and
  /// device as needed). Shape mismatches are always an error; with `strict`, missing and
  /// unexpected keys are too. The error lists every problem at once.
  LoadStateDictResult load_state_dict(const StateDict& dict, bool strict = true);

  // ---- printing --------------------------------------------------------------------------
  /// The constructor arguments shown between the parentheses ("in_features=4, ...").
  virtual std::string extra_repr() const { return {}; }
  /// One line for this module: "Linear(in_features=4, out_features=2, bias=True)".
  virtual void pretty_print(std::ostream& os) const;
  /// The whole tree with per-module parameter counts (what operator<< prints).
  std::string str() const;

 protected:
  /// Direct access for containers that keep their own ordering of children.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children_ref() const { return children_; }
  /// Called by replace_module before child number `index` becomes `module`, so containers
  /// that keep typed copies of their children can check and update them (or throw).
  virtual void on_replace_module(size_t index, const std::shared_ptr<Module>& module) {
    (void)index;
    (void)module;
  }

 private:
  void register_module_impl(const std::string& name, std::shared_ptr<Module> module);
  void replace_module_impl(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  void collect_named(NamedTensors& out, const std::string& prefix, bool params, bool recurse) const;
  void print_tree(std::ostream& os, int indent) const;
  void convert(const std::optional<Device>& device, const std::optional<DType>& dtype);

  mutable std::string name_;
  bool training_ = true;
  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

/// A module with one tensor input and one tensor output; what Sequential chains.
class UnaryModule : public Module {
 public:
  using Module::Module;
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

}  // namespace ts::nn
