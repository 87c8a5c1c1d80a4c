#pragma once
/// Counter-based randomness for the data pipeline. Every random decision of a DataLoader --
/// the epoch's sample order and each sample's augmentation -- is a pure function of
/// (seed, epoch, sample index), never of a shared stateful generator, so the batches are
/// bitwise identical whatever the number of worker threads and whichever thread loads what.
#include <array>
#include <cstdint>
#include <vector>

namespace ts::data {

/// One independent random stream (Philox4x32-10 keyed by seed, epoch and purpose; the stream
/// id selects a disjoint range of 2^32 counter blocks). Cheap to create: one per sample.
class SampleRng {
 public:
  /// What the stream is for: streams of different purposes never overlap.
  enum class Purpose : uint64_t { Augment = 1, Shuffle = 2 };

  /// The stream of sample `stream` (a dataset index, < 2^32) in `epoch` for `seed`.
  SampleRng(uint64_t seed, uint64_t epoch, uint64_t stream, Purpose purpose = Purpose::Augment);

  uint32_t next_u32();
  uint64_t next_u64();
  /// Uniform double in [0, 1) with 53 random bits.
  double uniform();
  /// Uniform integer in [low, high) (low < high), without modulo bias.
  int64_t randint(int64_t low, int64_t high);
  /// True with probability p.
  bool bernoulli(double p) { return uniform() < p; }

 private:
  void refill();

  uint64_t key_;
  uint64_t counter_;  ///< next Philox block
  uint64_t counter_end_;
  std::array<uint32_t, 4> buffer_{};
  int pos_ = 4;  ///< next unused word of buffer_
};

/// The order in which an epoch visits [0, n): identity when !shuffle, else a uniformly random
/// permutation (Fisher-Yates) drawn from (seed, epoch) alone.
std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, uint64_t epoch);

}  // namespace ts::data
