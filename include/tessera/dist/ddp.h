#pragma once
/// DistributedDataParallel: data-parallel training of any Module (torch DDP). Every rank holds
/// a full replica, runs forward/backward on its own slice of the global batch, and the
/// gradients are averaged across the group before the optimizer step, so all replicas take
/// the same step as one process on the whole batch (with the per-rank loss a mean over the
/// rank's equal-sized slice).
///
///   auto ddp = std::make_shared<ts::dist::DistributedDataParallel>(model);
///   ts::optim::AdamW opt(ddp->parameters(), ts::optim::AdamWOptions(1e-3));
///   for (auto& batch : loader) {                       // this rank's shard
///     ts::Tensor loss = ts::cross_entropy(ddp->forward(batch.data), batch.target);
///     opt.zero_grad();
///     loss.backward();   // gradients are averaged across ranks when backward() returns
///     opt.step();
///   }
///
/// How it works: the constructor broadcasts parameters and buffers from rank 0, so replicas
/// start equal. Parameters are grouped into buckets of about bucket_cap_mb in reverse
/// registration order (roughly the order backward produces their gradients). A hook on each
/// parameter copies its gradient into its bucket's flat buffer; when a bucket is full it is
/// all-reduced (Avg) asynchronously on the communication thread, in bucket order on every
/// rank, while backward goes on computing earlier layers' gradients. A callback the autograd
/// engine runs at the end of backward (autograd::queue_callback) launches any bucket not yet
/// launched (a parameter without a gradient contributes zeros), waits for all of them and
/// writes the averaged gradients into the parameters' .grad(). So after backward() returns,
/// .grad() holds the average and the optimizer can step; nothing else is to be called.
///
/// Gradient accumulation: backward passes inside a no_sync() guard only accumulate locally;
/// the next backward outside it averages the accumulated .grad() (PyTorch semantics).
///
/// All ranks must run backward through the same parameters in the same number of passes.
/// Parameters of the wrapped module must be CPU tensors, may mix dtypes (buckets hold one
/// dtype each) and must not be shared with another DDP instance.
#include <cstdint>
#include <memory>
#include <vector>

#include "tessera/dist/communicator.h"
#include "tessera/nn/module.h"

namespace ts::dist {

struct DDPOptions {
  /// Target bucket size in MiB (PyTorch's default 25). A parameter larger than this gets a
  /// bucket of its own.
  double bucket_cap_mb = 25.0;
  /// Launch each bucket's all-reduce from backward as soon as it is full (overlap). false: all
  /// buckets are all-reduced one after another at the end of backward (for comparison).
  bool overlap = true;
  /// Broadcast buffers (e.g. BatchNorm statistics) from rank 0 before every forward().
  bool broadcast_buffers = true;
  /// Leave each .grad() as a view into its bucket instead of copying the averaged gradient
  /// out (PyTorch's gradient_as_bucket_view): saves a copy of all gradients per step, but the
  /// next synchronizing backward overwrites gradient tensors the caller still holds.
  bool gradient_as_bucket_view = false;
};

/// What the last synchronizing backward did (for tests and benchmarks).
struct DDPSyncStats {
  int buckets = 0;                   ///< buckets all-reduced
  int launched_during_backward = 0;  ///< of which launched from hooks (overlapping backward)
  double wait_seconds = 0;           ///< time the end-of-backward callback spent waiting/communicating
};

class DistributedDataParallel : public nn::UnaryModule {
 public:
  /// Wraps `module` (registered as child "module", so state_dict keys start with "module.").
  /// Collective over `comm` (default: the world): broadcasts rank 0's parameters and buffers.
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module, DDPOptions options = {},
                                   std::shared_ptr<Communicator> comm = nullptr);
  ~DistributedDataParallel() override;

  /// Runs the wrapped module, which must then be a UnaryModule (otherwise call module()'s own
  /// forward: synchronization lives in the gradient hooks, not here). Broadcasts buffers first
  /// when options().broadcast_buffers.
  Tensor forward(const Tensor& x) override;

  const std::shared_ptr<nn::Module>& module() const { return module_; }
  const std::shared_ptr<Communicator>& comm() const { return comm_; }
  const DDPOptions& options() const { return options_; }
  /// Parameter indices (into module()->parameters()) of each bucket, in launch order.
  std::vector<std::vector<size_t>> bucket_assignment() const;
  DDPSyncStats last_sync_stats() const;

  /// While a guard lives, backward passes do not synchronize; gradients accumulate locally.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DistributedDataParallel& ddp);
    ~NoSyncGuard();
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool previous_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(*this); }

  /// Broadcasts rank 0's buffers to every rank (what forward() does when broadcast_buffers).
  void broadcast_buffers();

  struct Reducer;  // the bucket state the hooks share (src/dist/ddp.cpp)

 private:
  std::shared_ptr<nn::Module> module_;
  std::shared_ptr<Communicator> comm_;
  DDPOptions options_;
  std::shared_ptr<Reducer> reducer_;
};

}  // namespace ts::dist
