#pragma once
/// DistributedSampler: which samples this rank reads in an epoch (torch's DistributedSampler).
/// The epoch's order is drawn from (seed, epoch) identically on every rank
/// (ts::data::epoch_order), padded by repeating its first samples to a multiple of the number
/// of replicas (or truncated with drop_last), and rank r takes positions r, r + R, r + 2R, ...
/// So the shards are disjoint, equally long, and together cover the dataset (padding aside).
///
/// With the DataLoader, which iterates a whole dataset, read the shard through a
/// SubsetDataset, one per epoch:
///
///   ts::dist::DistributedSampler sampler(dataset->size(), {.shuffle = true, .seed = 1});
///   for (int epoch = 0; epoch < epochs; ++epoch) {
///     sampler.set_epoch(epoch);
///     ts::data::DataLoader loader(sampler.shard(dataset), {.batch_size = 32, .num_workers = 2});
///     for (auto& batch : loader) step(batch);   // batch.indices are shard positions
///   }
///
/// (The loader's own shuffle can stay off: the sampler already shuffled. Augmentation is
/// seeded by the loader's seed, epoch and shard position.)
#include <cstdint>
#include <memory>
#include <vector>

#include "tessera/data/dataset.h"

namespace ts::dist {

struct DistributedSamplerOptions {
  /// Number of shards and this process's shard; -1: the world's size and rank.
  int num_replicas = -1;
  int rank = -1;
  bool shuffle = true;
  uint64_t seed = 0;
  /// Drop the tail that does not divide evenly instead of padding with repeated samples.
  bool drop_last = false;
};

class DistributedSampler {
 public:
  DistributedSampler(int64_t dataset_size, DistributedSamplerOptions options = {});
  void set_epoch(uint64_t epoch) { epoch_ = epoch; }
  uint64_t epoch() const { return epoch_; }
  /// Dataset indices of this rank's shard for the current epoch, in visiting order.
  std::vector<int64_t> indices() const;
  /// Samples per rank and epoch.
  int64_t size() const { return per_rank_; }
  int num_replicas() const { return replicas_; }
  int rank() const { return rank_; }
  /// The current epoch's shard of `dataset` (whose size must be the sampler's).
  std::shared_ptr<data::Dataset> shard(std::shared_ptr<const data::Dataset> dataset) const;

 private:
  int64_t n_;
  DistributedSamplerOptions options_;
  int replicas_;
  int rank_;
  int64_t per_rank_;
  uint64_t epoch_ = 0;
};

/// The samples `indices` of `base`, in that order (sample i is base->get(indices[i])).
class SubsetDataset final : public data::Dataset {
 public:
  SubsetDataset(std::shared_ptr<const data::Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  data::Example get(int64_t index) const override;
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  std::shared_ptr<const data::Dataset> base_;
  std::vector<int64_t> indices_;
};

}  // namespace ts::dist
