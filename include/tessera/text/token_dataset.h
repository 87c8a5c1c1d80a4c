#pragma once
/// Language-model batches from a token file (nanoGPT's get_batch): random windows of
/// block_size + 1 tokens, inputs x = window[:-1] and targets y = window[1:].
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "tessera/tensor.h"
#include "tessera/text/token_file.h"

namespace ts::text {

class TokenDataset {
 public:
  /// Windows of `block_size` (T) inputs over `file`; a file shorter than T + 1 tokens or
  /// T < 1 -> ts::Error.
  TokenDataset(std::shared_ptr<const TokenFile> file, int64_t block_size);

  /// B windows at offsets drawn uniformly from [0, size - T - 1]: x and y are (B, T) int64
  /// with y[b, t] = x[b, t + 1] for t < T - 1. Row b's offset is a pure function of
  /// (seed, step, b) (data::SampleRng), so batches are reproducible, independent of thread
  /// count, and a smaller batch is a prefix of a larger one.
  std::pair<Tensor, Tensor> sample_batch(int64_t batch_size, uint64_t seed, uint64_t step) const;
  /// The offsets sample_batch(batch_size, seed, step) uses.
  std::vector<int64_t> sample_offsets(int64_t batch_size, uint64_t seed, uint64_t step) const;
  /// The windows starting at `offsets` (each in [0, size - T - 1]), e.g. fixed evaluation
  /// windows; an offset out of range -> ts::Error.
  std::pair<Tensor, Tensor> batch_at(const std::vector<int64_t>& offsets) const;

  int64_t block_size() const { return block_size_; }
  /// Number of distinct window offsets: size - T.
  int64_t num_windows() const { return file_->size() - block_size_; }
  const TokenFile& file() const { return *file_; }

 private:
  std::shared_ptr<const TokenFile> file_;
  int64_t block_size_;
};

}  // namespace ts::text
