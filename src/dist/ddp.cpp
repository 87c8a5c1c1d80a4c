// DistributedDataParallel: gradient bucketing, hook-driven asynchronous all-reduce and the
// end-of-backward write-back (see include/tessera/dist/ddp.h for the protocol).
#include "tessera/dist/ddp.h"

#include <algorithm>
#include <chrono>

#include "tessera/autograd.h"
#include "tessera/backend.h"
#include "tessera/creation.h"
#include "tessera/dist/runtime.h"
#include "tessera/ops.h"

namespace ts::dist {

struct DistributedDataParallel::Reducer : std::enable_shared_from_this<Reducer> {
  struct Bucket {
    std::vector<size_t> params;
    Tensor flat;       ///< the bucket's gradients, concatenated (one dtype)
    int pending = 0;   ///< gradients still missing in this backward
    WorkPtr work;
  };
  struct Slot {
    size_t bucket = 0;
    int64_t offset = 0;  ///< in elements of the bucket's flat buffer
  };

  std::shared_ptr<Communicator> comm;
  bool overlap = true;
  bool grad_as_view = false;
  std::vector<Tensor> params;
  std::vector<Slot> slots;
  std::vector<Bucket> buckets;
  std::vector<bool> ready;
  size_t next_launch = 0;
  bool sync_enabled = true;
  bool in_backward = false;
  DDPSyncStats current, last;

  Tensor slice(size_t i) const {
    const Tensor& p = params[i];
    return buckets[slots[i].bucket].flat.narrow(0, slots[i].offset, p.numel()).view(p.shape());
  }

  // A parameter's gradient for this backward arrived (before it is accumulated into .grad()).
  void on_grad(size_t i, const Tensor& g) {
    if (!sync_enabled) return;
    if (!in_backward) start_backward();
    TS_CHECK(!ready[i], "DistributedDataParallel: parameter {} of shape {} got its gradient twice in one backward", i,
             shape_str(params[i].shape()));
    ready[i] = true;
    // What .grad() will hold once AccumulateGrad ran: earlier (no_sync) gradients plus this one.
    const Tensor prev = params[i].grad();
    slice(i).copy_(prev.defined() ? prev + g : g);
    if (--buckets[slots[i].bucket].pending == 0 && overlap) launch_ready(true);
  }

  void start_backward() {
    in_backward = true;
    std::fill(ready.begin(), ready.end(), false);
    for (auto& b : buckets) {
      b.pending = static_cast<int>(b.params.size());
      b.work.reset();
    }
    next_launch = 0;
    current = {};
    autograd::queue_callback([weak = weak_from_this()] {
      if (auto self = weak.lock()) self->finish();
    });
  }

  // Buckets are launched strictly in order, so every rank issues the same all-reduce sequence
  // even when hooks fire in a different order.
  void launch_ready(bool from_hook) {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      Bucket& b = buckets[next_launch++];
      b.work = comm->all_reduce_async(b.flat, ReduceOp::Avg);
      ++current.buckets;
      if (from_hook) ++current.launched_during_backward;
    }
  }

  // A backward that threw after the first hook never ran finish(): drop its state so the next
  // backward starts clean (called from forward()).
  void reset_if_interrupted() {
    if (!in_backward) return;
    for (auto& b : buckets) {
      if (!b.work) continue;
      try {
        b.work->wait();
      } catch (...) {  // that backward already failed; its error was reported there
      }
      b.work.reset();
    }
    in_backward = false;
  }

  // End of backward: complete and launch the remaining buckets, wait, write gradients back.
  void finish() {
    const auto t0 = std::chrono::steady_clock::now();
    in_backward = false;
    for (size_t i = 0; i < params.size(); ++i) {
      if (ready[i]) continue;
      // No gradient in this backward (unused here; maybe used on another rank): contribute
      // what .grad() holds, or zeros.
      const Tensor prev = params[i].grad();
      if (prev.defined()) slice(i).copy_(prev);
      else slice(i).zero_();
      ready[i] = true;
      --buckets[slots[i].bucket].pending;
    }
    launch_ready(false);
    for (auto& b : buckets) {
      if (b.work) b.work->wait();
      b.work.reset();
    }
    for (size_t i = 0; i < params.size(); ++i) {
      if (grad_as_view) {
        params[i].set_grad(slice(i));
        continue;
      }
      // Into the gradient AccumulateGrad just made when it is this step's own tensor: a fresh
      // multi-MB allocation per parameter would cost more in page faults than the copy.
      const Tensor g = params[i].grad();
      if (g.defined() && g.is_contiguous() && g.dtype() == params[i].dtype() && g.shape() == params[i].shape() &&
          g.storage().use_count() == 1) {
        backend_for(g).copy(slice(i), g);
        g.storage()->bump_version();
      } else {
        params[i].set_grad(slice(i).clone());
      }
    }
    current.wait_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    last = current;
  }
};

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module, DDPOptions options,
                                                 std::shared_ptr<Communicator> comm)
    : nn::UnaryModule("DistributedDataParallel"), comm_(comm ? std::move(comm) : world()), options_(options) {
  TS_CHECK(module != nullptr, "DistributedDataParallel: module is null");
  TS_CHECK(options_.bucket_cap_mb > 0, "DistributedDataParallel: bucket_cap_mb must be > 0, got {}",
           options_.bucket_cap_mb);
  module_ = register_module("module", std::move(module));
  {
    // Replicas start from rank 0's state.
    NoGradGuard no_grad;
    for (Tensor t : module_->parameters()) comm_->broadcast(t, 0);
    for (Tensor t : module_->buffers()) comm_->broadcast(t, 0);
  }

  reducer_ = std::make_shared<Reducer>();
  Reducer& r = *reducer_;
  r.comm = comm_;
  r.overlap = options_.overlap;
  r.grad_as_view = options_.gradient_as_bucket_view;
  for (const Tensor& p : module_->parameters()) {
    if (!p.requires_grad()) continue;
    TS_CHECK(p.is_cpu() && p.is_floating_point(),
             "DistributedDataParallel: parameters must be floating-point CPU tensors, got {} {} on {}",
             dtype_name(p.dtype()), shape_str(p.shape()), p.device().str());
    r.params.push_back(p);
  }
  r.slots.resize(r.params.size());
  r.ready.assign(r.params.size(), false);
  // Buckets in reverse registration order: the last layers' gradients are ready first.
  const double cap_bytes = options_.bucket_cap_mb * 1024.0 * 1024.0;
  std::vector<int64_t> bucket_numel;
  double bucket_bytes = 0;
  for (size_t k = r.params.size(); k-- > 0;) {
    const Tensor& p = r.params[k];
    const double bytes = static_cast<double>(p.nbytes());
    const bool fits = !r.buckets.empty() && r.params[r.buckets.back().params.front()].dtype() == p.dtype() &&
                      bucket_bytes + bytes <= cap_bytes;
    if (!fits) {
      r.buckets.emplace_back();
      bucket_numel.push_back(0);
      bucket_bytes = 0;
    }
    r.slots[k] = {r.buckets.size() - 1, bucket_numel.back()};
    r.buckets.back().params.push_back(k);
    bucket_numel.back() += p.numel();
    bucket_bytes += bytes;
  }
  for (size_t b = 0; b < r.buckets.size(); ++b) {
    const Tensor& first = r.params[r.buckets[b].params.front()];
    r.buckets[b].flat = zeros({bucket_numel[b]}, TensorOptions(first.dtype()));
  }
  std::weak_ptr<Reducer> weak = reducer_;
  for (size_t i = 0; i < r.params.size(); ++i) {
    // The hook holds the reducer weakly: the parameter must not keep a dead DDP's state alive.
    r.params[i].register_hook([weak, i](const Tensor& g) {
      if (auto self = weak.lock()) self->on_grad(i, g);
      return Tensor();
    });
  }
}

DistributedDataParallel::~DistributedDataParallel() {
  if (!reducer_) return;
  for (auto& b : reducer_->buckets)
    if (b.work) {
      try {
        b.work->wait();
      } catch (...) {  // a destructor must not throw; the failure was reported by backward
      }
    }
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  auto unary = std::dynamic_pointer_cast<nn::UnaryModule>(module_);
  TS_CHECK(unary != nullptr,
           "DistributedDataParallel::forward: the wrapped {} is not a UnaryModule; call its own forward through "
           "module() (gradients are still synchronized)",
           module_->name());
  reducer_->reset_if_interrupted();
  if (options_.broadcast_buffers && comm_->size() > 1) broadcast_buffers();
  return unary->forward(x);
}

void DistributedDataParallel::broadcast_buffers() {
  NoGradGuard no_grad;
  for (Tensor t : module_->buffers()) comm_->broadcast(t, 0);
}

std::vector<std::vector<size_t>> DistributedDataParallel::bucket_assignment() const {
  // Report indices into module()->parameters(), which may include frozen parameters.
  const auto all = module_->parameters();
  std::vector<std::vector<size_t>> out;
  for (const auto& b : reducer_->buckets) {
    out.emplace_back();
    for (size_t i : b.params)
      for (size_t j = 0; j < all.size(); ++j)
        if (all[j].is_same(reducer_->params[i])) out.back().push_back(j);
  }
  return out;
}

DDPSyncStats DistributedDataParallel::last_sync_stats() const { return reducer_->last; }

DistributedDataParallel::NoSyncGuard::NoSyncGuard(DistributedDataParallel& ddp)
    : ddp_(ddp), previous_(ddp.reducer_->sync_enabled) {
  ddp.reducer_->sync_enabled = false;
}

DistributedDataParallel::NoSyncGuard::~NoSyncGuard() { ddp_.reducer_->sync_enabled = previous_; }

}  // namespace ts::dist
