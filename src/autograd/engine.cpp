// The backward engine: counts dependencies over the reachable graph, then runs nodes from a
// ready queue ordered by creation (latest first), summing gradients per input slot. No
// recursion, so a 10,000-op chain needs no deeper stack than a 1-op one.
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/ops.h"

namespace ts::autograd {
namespace {

// Gradients arriving at a node, one slot per forward output.
struct InputBuffer {
  std::vector<Tensor> grads;
  void add(size_t slot, const Tensor& g) {
    if (!g.defined()) return;
    if (grads.size() <= slot) grads.resize(slot + 1);
    grads[slot] = grads[slot].defined() ? grads[slot] + g : g;
  }
};

struct LaterFirst {
  bool operator()(Node* a, Node* b) const { return a->sequence_nr < b->sequence_nr; }
};

std::unordered_map<Node*, int> count_dependencies(const std::vector<Node*>& roots) {
  std::unordered_map<Node*, int> deps;
  std::unordered_set<Node*> seen(roots.begin(), roots.end());
  std::vector<Node*> stack(roots.begin(), roots.end());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& e : n->next_edges) {
      if (!e.fn) continue;
      ++deps[e.fn.get()];
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }
  return deps;
}

Tensor validate_seed(const Tensor& root, const Tensor& seed) {
  if (!seed.defined()) {
    TS_CHECK(root.numel() == 1,
             "backward: grad can be implicitly created only for scalar outputs, but the output has shape {}; pass a "
             "gradient of that shape",
             shape_str(root.shape()));
    return ones_like(root);
  }
  TS_CHECK(seed.shape() == root.shape(), "backward: gradient has shape {} but the output has shape {}",
           shape_str(seed.shape()), shape_str(root.shape()));
  return seed.dtype() == root.dtype() ? seed : seed.to(root.dtype());
}

Tensor zeros_for(const OutputMeta& m) { return zeros(m.shape, TensorOptions(m.dtype).with_device(m.device)); }

// Callbacks queued (queue_callback) during the innermost backward running on this thread.
thread_local std::vector<std::function<void()>>* current_callbacks = nullptr;

struct CallbackScope {
  std::vector<std::function<void()>> callbacks;
  std::vector<std::function<void()>>* previous;
  CallbackScope() : previous(current_callbacks) { current_callbacks = &callbacks; }
  ~CallbackScope() { current_callbacks = previous; }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
};

// Runs the graph. If `capture` is non-null, gradients flowing into those edges are stored there
// instead of being accumulated into leaves (torch.autograd.grad).
void execute(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds, bool retain_graph,
             std::unordered_map<Node*, std::pair<uint32_t, Tensor*>>* capture) {
  TS_CHECK(roots.size() == seeds.size(), "backward: got {} outputs but {} gradients", roots.size(), seeds.size());
  NoGradGuard no_grad;
  CallbackScope callback_scope;
  std::unordered_map<Node*, InputBuffer> buffers;
  std::vector<Node*> root_nodes;
  std::vector<std::shared_ptr<Node>> keep_alive;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    TS_CHECK(r.defined(), "backward: output {} is undefined", i);
    TS_CHECK(r.requires_grad(),
             "backward: output {} does not require grad and has no grad_fn (did the computation run under "
             "NoGradGuard, or do no inputs require grad?)",
             i);
    Edge e = gradient_edge(r);
    keep_alive.push_back(e.fn);
    buffers[e.fn.get()].add(e.input_nr, validate_seed(r, seeds[i]));
    root_nodes.push_back(e.fn.get());
  }
  auto deps = count_dependencies(root_nodes);
  std::priority_queue<Node*, std::vector<Node*>, LaterFirst> ready;
  std::unordered_set<Node*> queued;
  for (Node* n : root_nodes)
    if (deps[n] == 0 && queued.insert(n).second) ready.push(n);

  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    std::vector<Tensor> grads = std::move(buffers[node].grads);
    buffers.erase(node);
    grads.resize(std::max(grads.size(), node->outputs.size()));
    // Hooks on the node's outputs run on the summed gradient before the node sees it.
    for (auto& [slot, hooks] : node->pre_hooks) {
      if (slot >= grads.size() || !grads[slot].defined()) continue;
      for (auto& hook : hooks) {
        Tensor replaced = hook(grads[slot]);
        if (replaced.defined()) grads[slot] = replaced;
      }
    }
    std::vector<Tensor> input_grads;
    bool captured = false;
    if (capture) {
      if (auto it = capture->find(node); it != capture->end()) {
        const auto& [slot, dst] = it->second;
        if (slot < grads.size() && grads[slot].defined()) *dst = dst->defined() ? *dst + grads[slot] : grads[slot];
        captured = true;
      }
    }
    if (!captured && !(capture && dynamic_cast<AccumulateGrad*>(node))) {
      for (size_t i = 0; i < node->outputs.size(); ++i)
        if (!grads[i].defined()) grads[i] = zeros_for(node->outputs[i]);
      input_grads = node->apply(std::move(grads));
      if (!retain_graph) node->release_saved();
    }
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.fn) continue;
      if (i < input_grads.size() && input_grads[i].defined()) {
        const Tensor& g = input_grads[i];
        const auto& expect = e.fn->outputs.empty() ? OutputMeta{} : e.fn->outputs[std::min<size_t>(e.input_nr, e.fn->outputs.size() - 1)];
        TS_CHECK(e.fn->outputs.empty() || g.shape() == expect.shape,
                 "{}: backward produced a gradient of shape {} for input {}, expected {}", node->name(),
                 shape_str(g.shape()), i, shape_str(expect.shape));
        buffers[e.fn.get()].add(e.input_nr, g);
      }
      if (--deps[e.fn.get()] == 0 && queued.insert(e.fn.get()).second) ready.push(e.fn.get());
    }
  }
  // Indexed: a callback may queue another one.
  for (size_t i = 0; i < callback_scope.callbacks.size(); ++i) {
    auto callback = std::move(callback_scope.callbacks[i]);
    callback();
  }
}

}  // namespace

void queue_callback(std::function<void()> callback) {
  TS_CHECK(current_callbacks != nullptr, "autograd::queue_callback: no backward pass is running on this thread");
  current_callbacks->push_back(std::move(callback));
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph) {
  execute(roots, grads, retain_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph) {
  std::vector<Tensor> seeds = grad_outputs;
  seeds.resize(outputs.size());
  std::vector<Tensor> results(inputs.size());
  std::unordered_map<Node*, std::pair<uint32_t, Tensor*>> capture;
  std::vector<std::shared_ptr<Node>> keep_alive;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Edge e = gradient_edge(inputs[i]);
    TS_CHECK(e.fn != nullptr, "autograd::grad: input {} does not require grad", i);
    keep_alive.push_back(e.fn);
    capture[e.fn.get()] = {e.input_nr, &results[i]};
  }
  execute(outputs, seeds, retain_graph, &capture);
  return results;
}

}  // namespace ts::autograd
