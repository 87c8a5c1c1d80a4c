// DataLoader: coverage of each epoch, seeded shuffling, bitwise determinism for any number of
// workers (augmentation included), drop_last, bounded prefetching, collation into one
// allocation, early destruction mid-epoch and worker exceptions re-thrown to the consumer.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tessera/data/dataloader.h"
#include "tessera/tessera.h"

using Catch::Contains;
using namespace ts::data;
using namespace std::chrono_literals;

namespace {

/// n samples; sample i has data filled with i (shape `shape`, float32) and target i (int64).
std::shared_ptr<TensorDataset> indexed_dataset(int64_t n, const ts::Shape& shape = {2}) {
  ts::Shape full{n};
  full.insert(full.end(), shape.begin(), shape.end());
  ts::Tensor ids = ts::arange(0, n, 1, ts::TensorOptions(ts::kInt64));
  ts::Shape bshape{n};
  for (size_t i = 0; i < shape.size(); ++i) bshape.push_back(1);
  ts::Tensor data = ids.to(ts::kFloat32).reshape(bshape).expand(full).contiguous();
  return std::make_shared<TensorDataset>(data, ids);
}

/// Wraps a dataset: counts get() calls, optionally sleeps in each and throws at one index.
class ProbeDataset final : public Dataset {
 public:
  ProbeDataset(std::shared_ptr<const Dataset> inner, std::chrono::microseconds delay = 0us, int64_t throw_at = -1)
      : inner_(std::move(inner)), delay_(delay), throw_at_(throw_at) {}
  int64_t size() const override { return inner_->size(); }
  Example get(int64_t index) const override {
    calls.fetch_add(1);
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    TS_CHECK(index != throw_at_, "ProbeDataset: sample {} is unreadable", index);
    return inner_->get(index);
  }
  mutable std::atomic<int64_t> calls{0};

 private:
  std::shared_ptr<const Dataset> inner_;
  std::chrono::microseconds delay_;
  int64_t throw_at_;
};

struct EpochRecord {
  std::vector<std::vector<int64_t>> indices;
  std::vector<std::vector<uint8_t>> data;  ///< raw bytes of each batch's data
  std::vector<std::vector<int64_t>> targets;
};

EpochRecord run_epoch(DataLoader& loader) {
  EpochRecord rec;
  int64_t expected_index = 0;
  for (auto& batch : loader) {
    REQUIRE(batch.index == expected_index++);
    const auto* p = static_cast<const uint8_t*>(batch.data.raw_data());
    rec.data.emplace_back(p, p + batch.data.nbytes());
    rec.indices.push_back(batch.indices);
    rec.targets.push_back(batch.target.to_vector<int64_t>());
  }
  return rec;
}

}  // namespace

TEST_CASE("TensorDataset serves rows and validates its tensors", "[data]") {
  auto ds = indexed_dataset(5, {3});
  REQUIRE(ds->size() == 5);
  const Example ex = ds->get(3);
  REQUIRE(ex.data.to_vector<float>() == std::vector<float>{3, 3, 3});
  REQUIRE(ex.target.item<int64_t>() == 3);
  REQUIRE_THROWS_WITH(ds->get(5), Contains("TensorDataset: index 5 is out of range for a dataset of 5 samples"));
  REQUIRE_THROWS_WITH(TensorDataset(ts::ones({4, 2}), ts::ones({3})),
                      Contains("TensorDataset") && Contains("[4, 2]") && Contains("[3]"));
  REQUIRE_THROWS_WITH(TensorDataset(ts::scalar_tensor(1.0)), Contains("at least 1 dim"));
  const TensorDataset unlabeled(ts::ones({2, 2}));
  REQUIRE_FALSE(unlabeled.get(1).target.defined());
}

TEST_CASE("DataLoader covers the dataset exactly once per epoch, in batches", "[data]") {
  for (int workers : {0, 1, 3}) {
    for (bool shuffle : {false, true}) {
      INFO("num_workers " << workers << ", shuffle " << shuffle);
      DataLoader loader(indexed_dataset(103), {.batch_size = 10, .shuffle = shuffle, .num_workers = workers});
      REQUIRE(loader.size() == 11);
      for (int epoch = 0; epoch < 2; ++epoch) {
        std::multiset<int64_t> seen;
        int64_t batches = 0;
        for (auto& batch : loader) {
          REQUIRE(batch.size() == (batches < 10 ? 10 : 3));
          REQUIRE(batch.data.shape() == ts::Shape{batch.size(), 2});
          REQUIRE(batch.target.shape() == ts::Shape{batch.size()});
          // Row r holds sample indices[r]: data and targets stay paired through collation.
          const auto data = batch.data.to_vector<float>();
          const auto target = batch.target.to_vector<int64_t>();
          for (int64_t r = 0; r < batch.size(); ++r) {
            const int64_t idx = batch.indices[static_cast<size_t>(r)];
            REQUIRE(target[static_cast<size_t>(r)] == idx);
            REQUIRE(data[static_cast<size_t>(2 * r)] == static_cast<float>(idx));
            seen.insert(idx);
          }
          ++batches;
        }
        REQUIRE(batches == 11);
        REQUIRE(seen.size() == 103);
        REQUIRE(std::set<int64_t>(seen.begin(), seen.end()).size() == 103);
        REQUIRE(*seen.rbegin() == 102);
      }
    }
  }
}

TEST_CASE("DataLoader drop_last skips the short final batch", "[data]") {
  for (int workers : {0, 2}) {
    DataLoader loader(indexed_dataset(103), {.batch_size = 10, .shuffle = true, .drop_last = true,
                                             .num_workers = workers});
    REQUIRE(loader.size() == 10);
    const EpochRecord rec = run_epoch(loader);
    REQUIRE(rec.indices.size() == 10);
    for (const auto& b : rec.indices) REQUIRE(b.size() == 10);
  }
  // A dataset smaller than one batch yields nothing with drop_last, one batch without.
  DataLoader none(indexed_dataset(3), {.batch_size = 4, .drop_last = true});
  REQUIRE(none.size() == 0);
  REQUIRE(none.begin() == none.end());
  DataLoader one(indexed_dataset(3), {.batch_size = 4});
  REQUIRE(one.size() == 1);
  REQUIRE(run_epoch(one).indices == std::vector<std::vector<int64_t>>{{0, 1, 2}});
  DataLoader empty(indexed_dataset(0), {.batch_size = 4, .num_workers = 2});
  REQUIRE(empty.size() == 0);
  REQUIRE(empty.begin() == empty.end());
}

TEST_CASE("DataLoader shuffles differently each epoch, reproducibly from the seed", "[data]") {
  DataLoader loader(indexed_dataset(50), {.batch_size = 8, .shuffle = true, .seed = 99});
  REQUIRE(loader.epoch() == 0);
  const EpochRecord e0 = run_epoch(loader);
  REQUIRE(loader.epoch() == 0);
  const EpochRecord e1 = run_epoch(loader);  // the next begin() runs epoch 1
  REQUIRE(loader.epoch() == 1);
  REQUIRE(e0.indices != e1.indices);
  loader.set_epoch(0);
  REQUIRE(run_epoch(loader).indices == e0.indices);
  REQUIRE(loader.epoch() == 0);
  // The order is epoch_order(n, shuffle, seed, epoch), in batch_size slices.
  const auto order = epoch_order(50, true, 99, 1);
  REQUIRE(std::vector<int64_t>(order.begin(), order.begin() + 8) == e1.indices[0]);

  // Another seed gives another order; the global RNG plays no part.
  DataLoader other(indexed_dataset(50), {.batch_size = 8, .shuffle = true, .seed = 100});
  REQUIRE(run_epoch(other).indices != e0.indices);
  ts::manual_seed(1);
  loader.set_epoch(0);
  const EpochRecord after_seed = run_epoch(loader);
  ts::manual_seed(2);
  (void)ts::rand({10});
  loader.set_epoch(0);
  REQUIRE(run_epoch(loader).indices == after_seed.indices);
  REQUIRE(after_seed.indices == e0.indices);

  // Without shuffle the order is sequential in every epoch.
  DataLoader seq(indexed_dataset(20), {.batch_size = 8, .seed = 99});
  run_epoch(seq);
  REQUIRE(run_epoch(seq).indices ==
          std::vector<std::vector<int64_t>>{{0, 1, 2, 3, 4, 5, 6, 7}, {8, 9, 10, 11, 12, 13, 14, 15}, {16, 17, 18, 19}});
}

TEST_CASE("DataLoader batches are bitwise identical for 0, 1 and 3 workers, augmentation included", "[data]") {
  // Random images, augmented with random crops and flips, then normalized.
  ts::manual_seed(5);
  auto images = std::make_shared<TensorDataset>(ts::rand({70, 3, 12, 12}), ts::randint(0, 10, {70}));
  auto augment = std::make_shared<Compose>(std::vector<TransformPtr>{
      std::make_shared<RandomCrop>(12, 2), std::make_shared<RandomHorizontalFlip>(),
      std::make_shared<Normalize>(std::vector<double>{0.5, 0.4, 0.3}, std::vector<double>{0.2, 0.25, 0.3})});
  std::vector<std::vector<EpochRecord>> runs;
  for (int workers : {0, 1, 3}) {
    // Perturb the global RNG differently for each run: it must not matter.
    ts::manual_seed(static_cast<uint64_t>(1000 + workers));
    DataLoader loader(images, {.batch_size = 16, .shuffle = true, .num_workers = workers, .prefetch_factor = 1,
                               .seed = 7, .transform = augment});
    std::vector<EpochRecord> epochs;
    for (int e = 0; e < 3; ++e) epochs.push_back(run_epoch(loader));
    runs.push_back(std::move(epochs));
  }
  for (size_t r = 1; r < runs.size(); ++r) {
    for (size_t e = 0; e < 3; ++e) {
      REQUIRE(runs[r][e].indices == runs[0][e].indices);
      REQUIRE(runs[r][e].targets == runs[0][e].targets);
      REQUIRE(runs[r][e].data == runs[0][e].data);
    }
  }
  // Augmentation differs between epochs even for the same sample.
  REQUIRE(runs[0][0].data != runs[0][1].data);

  // A batch equals the augmentation of its samples with SampleRng(seed, epoch, index).
  DataLoader loader(images, {.batch_size = 16, .shuffle = true, .seed = 7, .transform = augment});
  loader.set_epoch(2);
  auto it = loader.begin();
  const Batch& first = *it;
  for (int64_t r = 0; r < first.size(); ++r) {
    const int64_t idx = first.indices[static_cast<size_t>(r)];
    SampleRng rng(7, 2, static_cast<uint64_t>(idx));
    const ts::Tensor expected = (*augment)(images->get(idx).data, rng);
    REQUIRE(std::memcmp(first.data.select(0, r).raw_data(), expected.raw_data(), expected.nbytes()) == 0);
  }
}

TEST_CASE("DataLoader resumes mid-epoch with the batches an uninterrupted epoch yields", "[data]") {
  auto images = std::make_shared<TensorDataset>(ts::rand({40, 1, 6, 6}), ts::randint(0, 10, {40}));
  auto augment = std::make_shared<RandomCrop>(6, 1);
  for (int workers : {0, 2}) {
    DataLoader loader(images, {.batch_size = 6, .shuffle = true, .num_workers = workers, .seed = 3,
                               .transform = augment});
    loader.set_epoch(4);
    const EpochRecord full = run_epoch(loader);
    REQUIRE(full.indices.size() == 7);
    auto probe = std::make_shared<ProbeDataset>(images);
    DataLoader resumed(probe, {.batch_size = 6, .shuffle = true, .num_workers = workers, .seed = 3,
                               .transform = augment});
    resumed.set_epoch(4, 5);
    std::vector<int64_t> positions;
    EpochRecord tail;
    for (auto& batch : resumed) {
      positions.push_back(batch.index);
      const auto* p = static_cast<const uint8_t*>(batch.data.raw_data());
      tail.data.emplace_back(p, p + batch.data.nbytes());
      tail.indices.push_back(batch.indices);
    }
    REQUIRE(positions == std::vector<int64_t>{5, 6});
    REQUIRE(tail.indices == std::vector<std::vector<int64_t>>(full.indices.begin() + 5, full.indices.end()));
    REQUIRE(tail.data == std::vector<std::vector<uint8_t>>(full.data.begin() + 5, full.data.end()));
    REQUIRE(probe->calls.load() == 6 + 4);  // the skipped batches were never loaded
    // The start applies once: the next begin() runs epoch 5 from its first batch.
    REQUIRE(run_epoch(resumed).indices.size() == 7);
    REQUIRE(resumed.epoch() == 5);
    resumed.set_epoch(0, 7);  // starting at the end is an empty epoch
    REQUIRE(resumed.begin() == resumed.end());
    REQUIRE_THROWS_WITH(resumed.set_epoch(0, 8), Contains("first_batch 8 is outside the epoch's 7 batches"));
  }
}

TEST_CASE("DataLoader collates a batch into one allocation", "[data]") {
  DataLoader loader(indexed_dataset(10, {3, 5}), {.batch_size = 4});
  auto it = loader.begin();
  const Batch& b = *it;
  REQUIRE(b.data.is_contiguous());
  REQUIRE(b.target.is_contiguous());
  REQUIRE(b.data.storage() == b.target.storage());
  REQUIRE(b.storage() == b.data.storage());
  const auto base = reinterpret_cast<uintptr_t>(b.storage()->data());
  const auto target_at = reinterpret_cast<uintptr_t>(b.target.raw_data());
  REQUIRE(b.data.raw_data() == b.storage()->data());
  REQUIRE((target_at - base) % 64 == 0);
  REQUIRE(target_at - base >= b.data.nbytes());
  REQUIRE(b.storage()->nbytes() == (target_at - base) + b.target.nbytes());

  // A custom allocator (e.g. pinned memory) backs each batch.
  // Workers allocate concurrently, so the sizes are compared as a sorted list, not by order.
  std::mutex sizes_mutex;
  std::vector<size_t> sizes;
  DataLoaderOptions opts{.batch_size = 4, .num_workers = 2};
  opts.allocator = [&](size_t nbytes) {
    std::lock_guard<std::mutex> lock(sizes_mutex);
    sizes.push_back(nbytes);
    return std::make_shared<ts::Storage>(nbytes, ts::Device());
  };
  DataLoader custom(indexed_dataset(10, {3, 5}), opts);
  const EpochRecord rec = run_epoch(custom);
  std::sort(sizes.begin(), sizes.end());
  // full batches: 4 x 60 data bytes padded to 256, then 4 x 8; the last: 2 x 60 padded to 128, then 2 x 8
  REQUIRE(sizes == std::vector<size_t>{128 + 16, 256 + 32, 256 + 32});
  REQUIRE(rec.indices.size() == 3);

  DataLoaderOptions tiny{.batch_size = 4};
  tiny.allocator = [](size_t) { return std::make_shared<ts::Storage>(8, ts::Device()); };
  DataLoader bad(indexed_dataset(10), tiny);
  REQUIRE_THROWS_WITH(bad.begin(), Contains("collate: the batch allocator returned 8 bytes"));
}

TEST_CASE("collate stacks samples and names mismatched ones", "[data]") {
  const std::vector<Example> ok = {{ts::ones({2, 2}), ts::scalar_tensor(int64_t{1})},
                                   {ts::zeros({2, 2}).t(), ts::scalar_tensor(int64_t{2})}};
  const Batch b = collate(ok, {7, 9});
  REQUIRE(b.data.shape() == ts::Shape{2, 2, 2});
  REQUIRE(b.data.to_vector<float>() == std::vector<float>{1, 1, 1, 1, 0, 0, 0, 0});
  REQUIRE(b.target.to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  REQUIRE(b.indices == std::vector<int64_t>{7, 9});
  const Batch no_target = collate({{ts::ones({3}), ts::Tensor()}}, {0});
  REQUIRE_FALSE(no_target.target.defined());

  REQUIRE_THROWS_WITH(collate({{ts::ones({2}), ts::Tensor()}, {ts::ones({3}), ts::Tensor()}}, {4, 5}),
                      Contains("collate: sample 5 has data float32 [3] but sample 4") && Contains("float32 [2]"));
  REQUIRE_THROWS_WITH(collate({{ts::ones({2}), ts::Tensor()}, {ts::ones({2}, ts::kFloat64), ts::Tensor()}}, {0, 1}),
                      Contains("float64 [2]"));
  REQUIRE_THROWS_WITH(collate({{ts::ones({2}), ts::ones({1})}, {ts::ones({2}), ts::Tensor()}}, {0, 1}),
                      Contains("sample 1 has target no tensor"));
  REQUIRE_THROWS_WITH(collate({}, {}), Contains("at least one example"));
}

TEST_CASE("DataLoader workers prefetch a bounded number of batches ahead", "[data]") {
  auto probe = std::make_shared<ProbeDataset>(indexed_dataset(200));
  // 2 workers x prefetch 2 = 4 batches may be loaded or loading beyond the one consumed.
  DataLoader loader(probe, {.batch_size = 5, .num_workers = 2, .prefetch_factor = 2});
  auto it = loader.begin();
  REQUIRE(it->indices.front() == 0);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (probe->calls.load() < 5 * 5 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  REQUIRE(probe->calls.load() == 25);  // prefetched while the consumer "trained" on batch 0
  std::this_thread::sleep_for(50ms);
  REQUIRE(probe->calls.load() == 25);  // and no further: the queue is bounded
  ++it;
  REQUIRE(it->index == 1);
  while (probe->calls.load() < 30 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);
  REQUIRE(probe->calls.load() == 30);
}

TEST_CASE("DataLoader stops its workers when destroyed or restarted mid-epoch", "[data]") {
  auto slow = std::make_shared<ProbeDataset>(indexed_dataset(400), 2ms);
  {
    DataLoader loader(slow, {.batch_size = 4, .shuffle = true, .num_workers = 3, .prefetch_factor = 4});
    int taken = 0;
    for (auto& batch : loader) {
      REQUIRE(batch.size() == 4);
      if (++taken == 2) break;
    }
    const auto start = std::chrono::steady_clock::now();
    // begin() abandons the running epoch (its workers are joined) and starts the next one.
    auto it = loader.begin();
    REQUIRE(loader.epoch() == 1);
    REQUIRE(it->index == 0);
    REQUIRE(std::chrono::steady_clock::now() - start < 5s);
  }  // destroyed with workers busy: they finish at most their current sample
  const int64_t calls = slow->calls.load();
  std::this_thread::sleep_for(30ms);
  REQUIRE(slow->calls.load() == calls);  // no worker is left running
  REQUIRE(calls < 400);                  // far from a full epoch was loaded
}

TEST_CASE("DataLoader re-throws a worker's exception in the consumer", "[data]") {
  for (int workers : {0, 1, 3}) {
    INFO("num_workers " << workers);
    auto failing = std::make_shared<ProbeDataset>(indexed_dataset(100), 0us, 37);
    DataLoader loader(failing, {.batch_size = 10, .num_workers = workers});
    std::vector<int64_t> delivered;
    auto consume = [&] {
      for (auto& batch : loader) delivered.push_back(batch.index);
    };
    REQUIRE_THROWS_WITH(consume(), Contains("ProbeDataset: sample 37 is unreadable"));
    REQUIRE(delivered == std::vector<int64_t>{0, 1, 2});  // every batch before the failing one, in order
    // The loader stays usable: a new epoch fails at the same place.
    delivered.clear();
    REQUIRE_THROWS_WITH(consume(), Contains("sample 37"));
    REQUIRE(delivered == std::vector<int64_t>{0, 1, 2});
  }
  // Exceptions keep their type (here not a ts::Error).
  class OutOfRange final : public Dataset {
   public:
    int64_t size() const override { return 9; }
    Example get(int64_t index) const override {
      if (index == 8) throw std::out_of_range("no sample 8");
      return {ts::ones({1}), ts::Tensor()};
    }
  };
  DataLoader typed(std::make_shared<OutOfRange>(), {.batch_size = 4, .num_workers = 2});
  auto it = typed.begin();
  ++it;
  REQUIRE_THROWS_AS(++it, std::out_of_range);
  REQUIRE(it == typed.end());
  // A transform's exception travels the same way.
  auto bad_crop = std::make_shared<RandomCrop>(5, 0);
  DataLoader loader(indexed_dataset(8, {2, 2}), {.batch_size = 2, .num_workers = 2, .transform = bad_crop});
  REQUIRE_THROWS_WITH(loader.begin(), Contains("RandomCrop: a 5x5 crop does not fit"));
}

TEST_CASE("DataLoader validates its options and iterator use", "[data]") {
  auto ds = indexed_dataset(4);
  REQUIRE_THROWS_WITH(DataLoader(ds, {.batch_size = 0}), Contains("DataLoader: batch_size must be at least 1, got 0"));
  REQUIRE_THROWS_WITH(DataLoader(ds, {.num_workers = -1}), Contains("num_workers must be non-negative"));
  REQUIRE_THROWS_WITH(DataLoader(ds, {.prefetch_factor = 0}), Contains("prefetch_factor must be at least 1"));
  REQUIRE_THROWS_WITH(DataLoader(nullptr, {}), Contains("DataLoader: the dataset is null"));
  const BatchAllocator cpu_memory = [](size_t n) { return std::make_shared<ts::Storage>(n, ts::Device()); };
  REQUIRE_THROWS_WITH(DataLoader(ds, {.allocator = cpu_memory, .pin_memory = true}),
                      Contains("pin_memory and a custom allocator exclude each other"));
  if (!ts::cuda::is_available()) {
    REQUIRE_THROWS_WITH(DataLoader(ds, {.pin_memory = true}),
                        Contains("DataLoader: pin_memory needs a usable CUDA device: ") &&
                            Contains(ts::cuda::unavailable_reason()));
  }
  DataLoader loader(ds, {.batch_size = 4});
  auto it = loader.begin();
  ++it;
  REQUIRE(it == loader.end());
  REQUIRE_THROWS_WITH(*it, Contains("past the last batch"));
  REQUIRE_THROWS_WITH(++it, Contains("past the last batch"));
}
