#pragma once
/// Reverse-mode autograd: a dynamic graph of Nodes recorded by ops, run by a
/// dependency-counting engine (no recursion, so deep chains cannot overflow the stack).
///
/// Note [Saved tensors and versions]: a SavedTensor remembers its storage's version counter
/// when it is saved; unpacking it after an in-place write raises a ts::Error naming the node,
/// instead of silently computing a wrong gradient.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tessera/tensor.h"

namespace ts::autograd {

class Node;

/// Where a gradient flows: input slot `input_nr` of node `fn` (null fn = not differentiable).
struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
  bool valid() const { return fn != nullptr; }
};

/// Shape/dtype/device of one forward output, so missing gradients can be zero-filled.
struct OutputMeta {
  Shape shape;
  DType dtype = DType::Float32;
  Device device;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  virtual ~Node() = default;
  /// Gradients w.r.t. this node's forward outputs in; gradients w.r.t. its inputs out
  /// (one per next edge; undefined where not needed). Runs with grad mode off.
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grads) = 0;
  virtual std::string name() const = 0;
  /// Frees saved tensors after a backward without retain_graph.
  virtual void release_saved() {}

  std::vector<Edge> next_edges;
  std::vector<OutputMeta> outputs;
  /// Hooks on the gradient of forward output `output_nr` (tensor.register_hook on non-leaves).
  std::map<uint32_t, std::vector<GradHook>> pre_hooks;
  uint64_t sequence_nr;  ///< creation order; the engine runs later nodes first
  bool needs_input_grad(size_t i) const { return i < next_edges.size() && next_edges[i].valid(); }
};

/// Accumulates into a leaf tensor's .grad(); owns no reference to the tensor's data.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(const Tensor& leaf);
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  std::string name() const override { return "AccumulateGrad"; }

 private:
  std::weak_ptr<TensorImpl> leaf_;
};

struct AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  uint32_t output_nr = 0;
  std::weak_ptr<Node> grad_accumulator;
  std::vector<GradHook> leaf_hooks;  ///< hooks of a leaf, run by AccumulateGrad
};

/// A tensor kept for backward with the version check of Note [Saved tensors and versions].
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  /// Returns the tensor; throws if it was modified in place since it was saved.
  Tensor unpack(const Node& owner) const;
  void reset() { tensor_ = Tensor(); }
  bool defined() const { return tensor_.defined(); }

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
};

/// A Node whose backward is a lambda; op implementations create these through `record`.
class FunctionNode final : public Node {
 public:
  using Backward = std::function<std::vector<Tensor>(const std::vector<Tensor>& grads, const Node& self)>;
  FunctionNode(std::string name, Backward fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  std::string name() const override { return name_; }
  void release_saved() override { fn_ = nullptr; }

 private:
  std::string name_;
  Backward fn_;
};

/// Whether ops record graph (thread-local; off inside NoGradGuard and during backward).
bool grad_mode_enabled();
void set_grad_mode(bool enabled);

/// True if grad mode is on and any of `inputs` requires grad.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

/// Records `outputs` as produced by a FunctionNode `name` from `inputs`, if any input
/// requires grad. `backward(grads, node)` returns one gradient per input.
void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            FunctionNode::Backward backward);

/// The edge that gradients for `t` flow into (its grad_fn, or its leaf accumulator).
Edge gradient_edge(const Tensor& t);

/// Runs backward from `roots` with seed gradients `grads` (same length).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph);

/// Queues `callback` to run when the backward pass executing on this thread has run every node,
/// before backward() returns (torch's queue_callback). Only valid during a backward, e.g. from
/// a gradient hook; DistributedDataParallel uses it to finish its gradient all-reduces.
void queue_callback(std::function<void()> callback);

/// Computes d(outputs)/d(inputs) without touching .grad() (like torch.autograd.grad).
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false);

/// Sums `grad` down to `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& grad, const Shape& shape);

/// Compares analytic gradients of `fn` (summed with random weights into a scalar) with
/// central finite differences, in float64. Returns true or throws ts::Error describing the
/// first mismatching element (input, index, analytic, numeric).
bool gradcheck(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
               const std::vector<Tensor>& inputs, double eps = 1e-6, double atol = 1e-5, double rtol = 1e-3);
/// Single-output convenience overload.
bool gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
               double eps = 1e-6, double atol = 1e-5, double rtol = 1e-3);

}  // namespace ts::autograd

namespace ts {

/// Disables graph recording in its scope (torch::NoGradGuard).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(autograd::grad_mode_enabled()) { autograd::set_grad_mode(false); }
  ~NoGradGuard() { autograd::set_grad_mode(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

/// Sets grad mode to `enabled` in its scope (torch::AutoGradMode).
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled) : prev_(autograd::grad_mode_enabled()) { autograd::set_grad_mode(enabled); }
  ~AutoGradMode() { autograd::set_grad_mode(prev_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool prev_;
};

}  // namespace ts
