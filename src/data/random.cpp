#include "tessera/data/random.h"

#include <numeric>

#include "runtime/philox.h"
#include "tessera/error.h"

namespace ts::data {
namespace {

/// SplitMix64's finalizer: spreads (seed, epoch, purpose) over the whole 64-bit Philox key so
/// that nearby seeds and epochs give unrelated streams.
uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

constexpr uint64_t kBlocksPerStream = uint64_t{1} << 32;

}  // namespace

SampleRng::SampleRng(uint64_t seed, uint64_t epoch, uint64_t stream, Purpose purpose) {
  TS_CHECK(stream < kBlocksPerStream, "SampleRng: stream {} is out of range (stream ids are sample indices below 2^32)",
           stream);
  key_ = mix64(mix64(mix64(seed) ^ static_cast<uint64_t>(purpose)) ^ epoch);
  counter_ = stream * kBlocksPerStream;
  counter_end_ = counter_ + kBlocksPerStream;
}

void SampleRng::refill() {
  TS_CHECK(counter_ != counter_end_, "SampleRng: stream exhausted after 2^34 draws");
  buffer_ = ts::detail::philox4x32(counter_++, key_);
  pos_ = 0;
}

uint32_t SampleRng::next_u32() {
  if (pos_ == 4) refill();
  return buffer_[static_cast<size_t>(pos_++)];
}

uint64_t SampleRng::next_u64() {
  const uint64_t hi = next_u32();
  return (hi << 32) | next_u32();
}

double SampleRng::uniform() {
  const uint32_t a = next_u32();
  return ts::detail::uints_to_unit_double(a, next_u32());
}

int64_t SampleRng::randint(int64_t low, int64_t high) {
  TS_CHECK(low < high, "SampleRng::randint: expected low < high, got low={} high={}", low, high);
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  // Reject the 2^64 mod range smallest values so that every residue is equally likely.
  const uint64_t reject_below = (0 - range) % range;
  uint64_t x = next_u64();
  while (x < reject_below) x = next_u64();
  return static_cast<int64_t>(static_cast<uint64_t>(low) + x % range);
}

std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, uint64_t epoch) {
  TS_CHECK(n >= 0, "epoch_order: negative dataset size {}", n);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!shuffle) return order;
  SampleRng rng(seed, epoch, 0, SampleRng::Purpose::Shuffle);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<size_t>(rng.randint(0, i + 1));
    std::swap(order[static_cast<size_t>(i)], order[j]);
  }
  return order;
}

}  // namespace ts::data
