#pragma once
// A cache of large freed CPU blocks, reused by size class. Training allocates and frees the
// same large activation and gradient buffers every step; through plain malloc those come from
// fresh mmap()s or a re-grown heap each time, and the page faults and kernel zeroing cost ~10%
// of a small GPT's step. Blocks below kMinCachedBytes go straight to malloc (its bins already
// reuse them); the cache holds at most TESSERA_CPU_CACHE_MB (default 1024) MiB and is off in
// AddressSanitizer builds, where reuse would hide use-after-free bugs.
#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

namespace ts::cpu {

class BlockCache {
 public:
  static constexpr size_t kMinCachedBytes = size_t{256} << 10;

  /// The process-wide cache.
  static BlockCache& instance();

  /// A block of at least `nbytes` (64-byte aligned), or nullptr if aligned_alloc fails.
  void* allocate(size_t nbytes);
  /// Returns a block obtained from allocate(nbytes) with the same `nbytes`.
  void release(void* ptr, size_t nbytes);
  /// Frees every cached block.
  void empty();
  size_t cached_bytes() const;

 private:
  BlockCache();
  static size_t size_class(size_t nbytes);

  mutable std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;  // size class -> blocks
  size_t cached_ = 0, limit_ = 0;
};

}  // namespace ts::cpu
