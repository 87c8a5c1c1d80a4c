#include "tessera/text/token_dataset.h"

#include "tessera/creation.h"
#include "tessera/data/random.h"
#include "tessera/error.h"

namespace ts::text {

TokenDataset::TokenDataset(std::shared_ptr<const TokenFile> file, int64_t block_size)
    : file_(std::move(file)), block_size_(block_size) {
  TS_CHECK(file_ != nullptr, "TokenDataset: no token file");
  TS_CHECK(block_size_ >= 1, "TokenDataset: block_size must be at least 1, got {}", block_size_);
  TS_CHECK(file_->size() >= block_size_ + 1,
           "TokenDataset: '{}' has {} tokens, fewer than the block_size + 1 = {} one window needs", file_->path(),
           file_->size(), block_size_ + 1);
}

std::vector<int64_t> TokenDataset::sample_offsets(int64_t batch_size, uint64_t seed, uint64_t step) const {
  TS_CHECK(batch_size >= 1 && batch_size <= (int64_t{1} << 32),
           "TokenDataset::sample_batch: batch_size must be in [1, 2^32], got {}", batch_size);
  std::vector<int64_t> offsets(static_cast<size_t>(batch_size));
  for (int64_t b = 0; b < batch_size; ++b) {
    data::SampleRng rng(seed, step, static_cast<uint64_t>(b), data::SampleRng::Purpose::Shuffle);
    offsets[static_cast<size_t>(b)] = rng.randint(0, num_windows());
  }
  return offsets;
}

std::pair<Tensor, Tensor> TokenDataset::sample_batch(int64_t batch_size, uint64_t seed, uint64_t step) const {
  return batch_at(sample_offsets(batch_size, seed, step));
}

std::pair<Tensor, Tensor> TokenDataset::batch_at(const std::vector<int64_t>& offsets) const {
  TS_CHECK(!offsets.empty(), "TokenDataset::batch_at: no offsets");
  const auto batch = static_cast<int64_t>(offsets.size());
  const int64_t T = block_size_;
  Tensor x = empty({batch, T}, kInt64);
  Tensor y = empty({batch, T}, kInt64);
  int64_t* xp = x.data_ptr<int64_t>();
  int64_t* yp = y.data_ptr<int64_t>();
  const uint16_t* tokens = file_->data();
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t off = offsets[static_cast<size_t>(b)];
    TS_CHECK(off >= 0 && off < num_windows(),
             "TokenDataset::batch_at: offset {} (row {}) is out of range: windows of {} + 1 tokens in '{}' ({} "
             "tokens) start in [0, {}]", off, b, T, file_->path(), file_->size(), num_windows() - 1);
    const uint16_t* src = tokens + off;
    for (int64_t t = 0; t < T; ++t) {
      xp[b * T + t] = src[t];
      yp[b * T + t] = src[t + 1];
    }
  }
  return {std::move(x), std::move(y)};
}

}  // namespace ts::text
