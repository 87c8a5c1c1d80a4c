#pragma once
/// DataLoader: iterates a Dataset in batches, optionally shuffled and augmented, with a pool
/// of worker threads that load and collate the next batches while the model trains.
///
///   ts::data::DataLoader loader(dataset, {.batch_size = 128, .shuffle = true, .num_workers = 2,
///                                         .seed = 1, .transform = augment});
///   for (int epoch = 0; epoch < epochs; ++epoch) {
///     loader.set_epoch(epoch);
///     for (auto& batch : loader) step(batch.data, batch.target);
///   }
///
/// Determinism: the batches of epoch e -- order, membership and augmentation -- depend only
/// on (seed, e) and are bitwise identical for every num_workers. The sample order comes from
/// epoch_order(n, shuffle, seed, e); sample i is augmented with SampleRng(seed, e, i).
/// Batches are delivered in order; workers run at most num_workers * prefetch_factor batches
/// ahead of the consumer. An exception thrown while loading a batch (in Dataset::get, a
/// transform or collation) is re-thrown by the iterator when that batch is due, after the
/// workers have been stopped.
#include <cstdint>
#include <iterator>
#include <memory>

#include "tessera/data/collate.h"
#include "tessera/data/dataset.h"
#include "tessera/data/transforms.h"

namespace ts::data {

struct DataLoaderOptions {
  int64_t batch_size = 1;
  /// Visit the samples in a new random order each epoch (drawn from seed and epoch).
  bool shuffle = false;
  /// Skip the last batch when it would hold fewer than batch_size samples.
  bool drop_last = false;
  /// Loader threads; 0 loads each batch on the consumer's thread when it is requested.
  int num_workers = 0;
  /// Batches each worker may have ready or in progress ahead of the consumer.
  int prefetch_factor = 2;
  /// Seeds shuffling and augmentation; independent of the global RNG (ts::manual_seed).
  uint64_t seed = 0;
  /// Applied to each sample's data before collation (may be null).
  TransformPtr transform{};
  /// Memory for each collated batch (e.g. pinned host memory); unset: the CPU allocator.
  BatchAllocator allocator{};
  /// Collate each batch into page-locked host memory (ts::cuda::pinned_storage), so that
  /// Tensor::to(cuda, non_blocking=true) copies it asynchronously: PyTorch's pin_memory=True.
  /// Needs a usable GPU (the constructor says why not otherwise) and excludes `allocator`.
  bool pin_memory = false;
};

class DataLoader {
 public:
  /// Iterates the batches of one epoch. Input iterator: the batch it refers to is replaced
  /// by the next one on increment (move it out to keep it).
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = Batch*;
    using reference = Batch&;

    Iterator() = default;
    Batch& operator*() const;
    Batch* operator->() const { return &**this; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    friend bool operator==(const Iterator& a, const Iterator& b) { return a.at_end() == b.at_end(); }

   private:
    friend class DataLoader;
    explicit Iterator(DataLoader* loader) : loader_(loader) {}
    bool at_end() const;
    DataLoader* loader_ = nullptr;
  };

  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options);
  /// Stops and joins the workers, also in the middle of an epoch.
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  /// Starts an epoch (stopping any unfinished one) and returns its first batch. The epoch is
  /// the one set by set_epoch(), else the one after the previous begin()'s (0 at first).
  Iterator begin();
  Iterator end() { return Iterator(); }

  /// Batches per epoch.
  int64_t size() const;
  /// Selects the epoch the next begin() runs (its shuffle order and augmentation) and the
  /// batch it starts at: resuming at batch k of epoch e yields exactly the batches k, k+1, ...
  /// of an uninterrupted epoch e, without loading the first k. The start applies once.
  void set_epoch(uint64_t epoch, int64_t first_batch = 0);
  /// The epoch of the latest begin().
  uint64_t epoch() const { return epoch_; }

  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }

  /// Loads batch `batch_index` of the epoch whose sample order is `order`, on the calling
  /// thread: exactly what a worker produces for it.
  Batch load_batch(const std::vector<int64_t>& order, uint64_t epoch, int64_t batch_index) const;

 private:
  struct Run;  // the state of one epoch: order, worker threads, finished batches

  void advance();
  void stop();

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  uint64_t next_epoch_ = 0;
  int64_t next_first_batch_ = 0;
  uint64_t epoch_ = 0;
  std::unique_ptr<Run> run_;
  Batch current_;
};

}  // namespace ts::data
