#include "tessera/dist/sampler.h"

#include "tessera/data/random.h"
#include "tessera/dist/runtime.h"

namespace ts::dist {

DistributedSampler::DistributedSampler(int64_t dataset_size, DistributedSamplerOptions options)
    : n_(dataset_size), options_(options) {
  replicas_ = options.num_replicas >= 0 ? options.num_replicas : world_size();
  rank_ = options.rank >= 0 ? options.rank : dist::rank();
  TS_CHECK(n_ >= 0, "DistributedSampler: dataset size {} must be >= 0", n_);
  TS_CHECK(replicas_ >= 1, "DistributedSampler: num_replicas {} must be >= 1", replicas_);
  TS_CHECK(rank_ < replicas_, "DistributedSampler: rank {} is out of range for {} replicas", rank_, replicas_);
  per_rank_ = options.drop_last ? n_ / replicas_ : (n_ + replicas_ - 1) / replicas_;
}

std::vector<int64_t> DistributedSampler::indices() const {
  std::vector<int64_t> order = data::epoch_order(n_, options_.shuffle, options_.seed, epoch_);
  const int64_t total = per_rank_ * replicas_;
  if (total > n_) {
    // Pad by repeating the order from its start (several times if the dataset is tiny).
    const int64_t original = n_;
    for (int64_t i = 0; static_cast<int64_t>(order.size()) < total; ++i) order.push_back(order[static_cast<size_t>(i % original)]);
  } else {
    order.resize(static_cast<size_t>(total));
  }
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(per_rank_));
  for (int64_t i = rank_; i < total; i += replicas_) mine.push_back(order[static_cast<size_t>(i)]);
  return mine;
}

std::shared_ptr<data::Dataset> DistributedSampler::shard(std::shared_ptr<const data::Dataset> dataset) const {
  TS_CHECK(dataset != nullptr, "DistributedSampler::shard: dataset is null");
  TS_CHECK(dataset->size() == n_, "DistributedSampler::shard: the dataset has {} samples but the sampler was made for {}",
           dataset->size(), n_);
  return std::make_shared<SubsetDataset>(std::move(dataset), indices());
}

SubsetDataset::SubsetDataset(std::shared_ptr<const data::Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  TS_CHECK(base_ != nullptr, "SubsetDataset: base dataset is null");
  for (int64_t i : indices_)
    TS_CHECK(i >= 0 && i < base_->size(), "SubsetDataset: index {} is out of range for a dataset of {} samples", i,
             base_->size());
}

data::Example SubsetDataset::get(int64_t index) const {
  TS_CHECK(index >= 0 && index < size(), "SubsetDataset: index {} is out of range for a subset of {} samples", index,
           size());
  return base_->get(indices_[static_cast<size_t>(index)]);
}

}  // namespace ts::dist
