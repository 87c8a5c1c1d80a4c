// Graph construction: grad mode, nodes, saved tensors, and `record`, which ops call to attach
// a backward node to their outputs.
#include <atomic>

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/ops.h"

namespace ts::autograd {
namespace {
thread_local bool grad_mode = true;
std::atomic<uint64_t> next_sequence_nr{0};
}  // namespace

bool grad_mode_enabled() { return grad_mode; }
void set_grad_mode(bool enabled) { grad_mode = enabled; }

Node::Node() : sequence_nr(next_sequence_nr.fetch_add(1, std::memory_order_relaxed)) {}

// Only a weak reference: the graph must not keep parameters alive.
AccumulateGrad::AccumulateGrad(const Tensor& leaf) : leaf_(leaf.weak_impl()) {}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grads) {
  auto leaf = leaf_.lock();
  if (!leaf || !grads[0].defined()) return {};
  auto& meta = *leaf->autograd;
  Tensor g = std::move(grads[0]);
  for (auto& hook : meta.leaf_hooks) {
    Tensor replaced = hook(g);
    if (replaced.defined()) g = replaced;
  }
  if (meta.grad.defined()) {
    meta.grad = meta.grad + g;
  } else if (g.is_contiguous() && g.storage_offset() == 0 && g.weak_impl().use_count() == 1 &&
             g.storage().use_count() == 1) {
    // Nobody else holds this gradient or its storage: keep it without copying.
    meta.grad = std::move(g);
  } else {
    // The incoming buffer may alias another tensor or gradient: own a copy.
    meta.grad = g.clone();
  }
  return {};
}

// A detached alias: it shares the storage (and so the version counter) but not the autograd
// metadata. Saving the tensor itself would make a cycle for ops that save their own output
// (node -> output -> grad_fn -> node) and leak every graph that is never backpropagated.
SavedTensor::SavedTensor(const Tensor& t) : tensor_(t.defined() ? t.detach() : t) {
  if (t.defined()) version_ = t._version();
}

Tensor SavedTensor::unpack(const Node& owner) const {
  TS_CHECK(tensor_.defined() || version_ == 0,
           "{}: a tensor saved for backward was released; call backward(..., retain_graph=true) to backward "
           "through the graph a second time",
           owner.name());
  if (tensor_.defined()) {
    TS_CHECK(tensor_._version() == version_,
             "{}: a tensor of shape {} saved for backward was modified by an in-place operation (version {} "
             "now, {} when saved); gradient computation would be wrong",
             owner.name(), shape_str(tensor_.shape()), tensor_._version(), version_);
  }
  return tensor_;
}

std::vector<Tensor> FunctionNode::apply(std::vector<Tensor>&& grads) {
  TS_CHECK(fn_ != nullptr,
           "{}: trying to backward through the graph a second time (its saved tensors were freed); pass "
           "retain_graph=true to the first backward",
           name_);
  return fn_(grads, *this);
}

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_mode) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!grad_mode) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  auto& meta = t.ensure_autograd_meta();
  if (meta.grad_fn) return {meta.grad_fn, meta.output_nr};
  auto acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t);
    meta.grad_accumulator = acc;
  }
  return {acc, 0};
}

void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            FunctionNode::Backward backward) {
  if (!any_requires_grad(inputs)) return;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  node->next_edges.reserve(inputs.size());
  for (const auto& in : inputs) node->next_edges.push_back(gradient_edge(in));
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    node->outputs.push_back({out.shape(), out.dtype(), out.device()});
    if (!ts::is_floating_point(out.dtype())) continue;  // integer outputs (indices) carry no gradient
    auto& meta = out.ensure_autograd_meta();
    meta.grad_fn = node;
    meta.output_nr = i;
    meta.requires_grad = true;
  }
}

}  // namespace ts::autograd
