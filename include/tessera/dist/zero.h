#pragma once
/// ZeRO stage 1 (optimizer-state sharding) for AdamW over a data-parallel group. Every rank
/// holds the full parameters and computes gradients on its own batch slice (no DDP needed);
/// step() reduce-scatters (averages) the flattened gradients so each rank gets the slice it
/// owns, runs AdamW on that slice only -- so Adam's two moment buffers take 1/dp of the
/// memory per rank -- and all-gathers the updated slices back into every parameter.
/// Each parameter group (e.g. decayed / not decayed) is flattened and sharded separately, so
/// per-group hyperparameters behave exactly as in optim::AdamW.
#include <memory>
#include <utility>
#include <vector>

#include "tessera/dist/communicator.h"
#include "tessera/state_dict.h"
#include "tessera/optim/adam.h"

namespace ts::dist {

class ZeroAdamW {
 public:
  using Group = std::pair<std::vector<Tensor>, optim::AdamWOptions>;
  /// Parameters must be identical on every rank of `dp_group` (same seed, or broadcast).
  ZeroAdamW(std::vector<Group> groups, std::shared_ptr<Communicator> dp_group);

  /// Averages the gradients over the group and updates every parameter (missing gradients
  /// count as zero). Collective over the group.
  void step();
  void zero_grad();
  /// The whole optimizer state in optim::AdamW's state_dict layout over the original
  /// parameters (each rank's moment slices all-gathered), so a plain AdamW with the same
  /// groups, or a ZeroAdamW over any number of ranks, can load it. Collective over the group.
  StateDict state_dict() const;
  /// Loads a state in that layout (from state_dict() or optim::AdamW::state_dict()), keeping
  /// this rank's slices. Local; every rank passes the same dict.
  void load_state_dict(const StateDict& dict);
  /// The AdamW that owns this rank's slices (e.g. for an LR scheduler).
  optim::AdamW& shard_optimizer() { return *inner_; }
  /// Number of parameter elements this rank keeps optimizer state for.
  int64_t shard_numel() const;

 private:
  struct FlatGroup {
    std::vector<Tensor> params;
    int64_t numel = 0, shard = 0;  ///< real elements; elements per rank (padded)
    Tensor slice;                  ///< this rank's slice of the flattened parameters (a leaf)
  };
  Tensor flatten(const FlatGroup& g, bool grads) const;

  std::shared_ptr<Communicator> group_;
  std::vector<FlatGroup> flat_;
  std::unique_ptr<optim::AdamW> inner_;
};

}  // namespace ts::dist
