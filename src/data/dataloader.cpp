#include "tessera/data/dataloader.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "tessera/cuda.h"

namespace ts::data {
namespace {

/// Loads and collates batch `b`; nullopt when `cancel` is raised before it is complete.
std::optional<Batch> build_batch(const Dataset& dataset, const DataLoaderOptions& opts,
                                 const std::vector<int64_t>& order, uint64_t epoch, int64_t b,
                                 const std::atomic<bool>* cancel) {
  const auto n = static_cast<int64_t>(order.size());
  const int64_t begin = b * opts.batch_size;
  TS_CHECK(b >= 0 && begin < n, "DataLoader: batch {} does not exist in an epoch of {} samples in batches of {}", b,
           n, opts.batch_size);
  const int64_t end = std::min(n, begin + opts.batch_size);
  std::vector<Example> examples;
  std::vector<int64_t> indices;
  examples.reserve(static_cast<size_t>(end - begin));
  indices.reserve(static_cast<size_t>(end - begin));
  for (int64_t i = begin; i < end; ++i) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) return std::nullopt;
    const int64_t index = order[static_cast<size_t>(i)];
    Example ex = dataset.get(index);
    if (opts.transform) {
      SampleRng rng(opts.seed, epoch, static_cast<uint64_t>(index));
      ex.data = (*opts.transform)(ex.data, rng);
    }
    examples.push_back(std::move(ex));
    indices.push_back(index);
  }
  Batch batch = collate(examples, indices, opts.allocator);
  batch.index = b;
  return batch;
}

}  // namespace

/// One epoch. Workers claim batch indices in order, at most `window` past the last batch the
/// consumer took, and file each finished batch (or its exception) under its index; the
/// consumer takes them in order, so delivery is deterministic whatever the scheduling.
struct DataLoader::Run {
  std::vector<int64_t> order;
  uint64_t epoch = 0;
  int64_t num_batches = 0;
  int64_t window = 1;
  int64_t next_yield = 0;  ///< consumer thread only

  struct Outcome {
    Batch batch;
    std::exception_ptr error;
  };

  std::mutex mutex;
  std::condition_variable room_cv;   ///< workers wait for room in the window
  std::condition_variable ready_cv;  ///< the consumer waits for its next batch
  int64_t next_claim = 0;            ///< guarded by mutex
  int64_t consumed = 0;              ///< batches taken by the consumer; guarded by mutex
  std::map<int64_t, Outcome> ready;  ///< guarded by mutex
  std::exception_ptr fatal;          ///< a failure outside any batch; guarded by mutex
  bool stopping = false;             ///< guarded by mutex
  std::atomic<bool> cancel{false};   ///< lets a worker abandon a batch between samples
  std::vector<std::thread> workers;

  ~Run() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    cancel.store(true, std::memory_order_relaxed);
    room_cv.notify_all();
    for (auto& t : workers) t.join();
  }

  void work(const Dataset& dataset, const DataLoaderOptions& opts) {
    try {
      for (;;) {
        int64_t b = 0;
        {
          std::unique_lock<std::mutex> lock(mutex);
          room_cv.wait(lock, [&] { return stopping || next_claim >= num_batches || next_claim < consumed + window; });
          if (stopping || next_claim >= num_batches) return;
          b = next_claim++;
        }
        Outcome outcome;
        try {
          std::optional<Batch> batch = build_batch(dataset, opts, order, epoch, b, &cancel);
          if (!batch) return;
          outcome.batch = std::move(*batch);
        } catch (...) {
          outcome.error = std::current_exception();
        }
        {
          std::lock_guard<std::mutex> lock(mutex);
          ready.emplace(b, std::move(outcome));
        }
        ready_cv.notify_one();
      }
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (!fatal) fatal = std::current_exception();
      }
      ready_cv.notify_one();
    }
  }
};

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  TS_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  TS_CHECK(options_.batch_size >= 1, "DataLoader: batch_size must be at least 1, got {}", options_.batch_size);
  TS_CHECK(options_.num_workers >= 0, "DataLoader: num_workers must be non-negative, got {}", options_.num_workers);
  TS_CHECK(options_.prefetch_factor >= 1, "DataLoader: prefetch_factor must be at least 1, got {}",
           options_.prefetch_factor);
  TS_CHECK(dataset_->size() >= 0, "DataLoader: the dataset reports a negative size {}", dataset_->size());
  if (options_.pin_memory) {
    TS_CHECK(!options_.allocator, "DataLoader: pin_memory and a custom allocator exclude each other");
    TS_CHECK(cuda::is_available(), "DataLoader: pin_memory needs a usable CUDA device: {}", cuda::unavailable_reason());
    options_.allocator = cuda::pinned_storage;
  }
}

DataLoader::~DataLoader() { stop(); }

int64_t DataLoader::size() const {
  const int64_t n = dataset_->size();
  return options_.drop_last ? n / options_.batch_size : (n + options_.batch_size - 1) / options_.batch_size;
}

Batch DataLoader::load_batch(const std::vector<int64_t>& order, uint64_t epoch, int64_t batch_index) const {
  return *build_batch(*dataset_, options_, order, epoch, batch_index, nullptr);
}

void DataLoader::stop() {
  run_.reset();
  current_ = Batch();
}

void DataLoader::set_epoch(uint64_t epoch, int64_t first_batch) {
  TS_CHECK(first_batch >= 0 && first_batch <= size(),
           "DataLoader::set_epoch: first_batch {} is outside the epoch's {} batches", first_batch, size());
  next_epoch_ = epoch;
  next_first_batch_ = first_batch;
}

DataLoader::Iterator DataLoader::begin() {
  stop();
  epoch_ = next_epoch_;
  next_epoch_ = epoch_ + 1;
  const int64_t first = std::min(next_first_batch_, size());
  next_first_batch_ = 0;
  auto run = std::make_unique<Run>();
  run->epoch = epoch_;
  run->order = epoch_order(dataset_->size(), options_.shuffle, options_.seed, epoch_);
  run->num_batches = size();
  run->window = static_cast<int64_t>(options_.num_workers) * options_.prefetch_factor;
  run->next_yield = run->next_claim = run->consumed = first;
  run_ = std::move(run);
  const int64_t threads = std::min<int64_t>(options_.num_workers, run_->num_batches - first);
  try {
    for (int64_t t = 0; t < threads; ++t) {
      run_->workers.emplace_back([this, r = run_.get()] { r->work(*dataset_, options_); });
    }
  } catch (...) {
    stop();
    throw;
  }
  advance();
  return Iterator(this);
}

void DataLoader::advance() {
  Run& r = *run_;
  if (r.next_yield >= r.num_batches) {
    stop();
    return;
  }
  const int64_t b = r.next_yield++;
  if (r.workers.empty()) {
    try {
      current_ = load_batch(r.order, r.epoch, b);
    } catch (...) {
      stop();
      throw;
    }
    return;
  }
  Run::Outcome outcome;
  {
    std::unique_lock<std::mutex> lock(r.mutex);
    r.ready_cv.wait(lock, [&] { return r.ready.count(b) != 0 || r.fatal; });
    auto it = r.ready.find(b);
    if (it != r.ready.end()) {
      outcome = std::move(it->second);
      r.ready.erase(it);
    } else {
      outcome.error = r.fatal;
    }
    r.consumed = b + 1;
  }
  r.room_cv.notify_all();
  if (outcome.error) {
    stop();
    std::rethrow_exception(outcome.error);
  }
  current_ = std::move(outcome.batch);
}

bool DataLoader::Iterator::at_end() const { return loader_ == nullptr || loader_->run_ == nullptr; }

Batch& DataLoader::Iterator::operator*() const {
  TS_CHECK(!at_end(), "DataLoader: dereferencing an iterator past the last batch of the epoch");
  return loader_->current_;
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  TS_CHECK(!at_end(), "DataLoader: incrementing an iterator past the last batch of the epoch");
  loader_->advance();
  return *this;
}

}  // namespace ts::data
