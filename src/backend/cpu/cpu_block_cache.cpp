#include "backend/cpu/cpu_block_cache.h"

#include <bit>
#include <cstdlib>
#include <string>

namespace ts::cpu {
namespace {

constexpr size_t kAlignment = 64;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheEnabled = false;
#else
constexpr bool kCacheEnabled = true;
#endif

size_t limit_from_env() {
  const char* env = std::getenv("TESSERA_CPU_CACHE_MB");
  if (env == nullptr || *env == '\0') return size_t{1024} << 20;
  try {
    return static_cast<size_t>(std::stoull(env)) << 20;
  } catch (const std::exception&) {
    return size_t{1024} << 20;
  }
}

}  // namespace

BlockCache& BlockCache::instance() {
  // Leaked on purpose: tensors freed during static destruction may still return blocks.
  static BlockCache* cache = new BlockCache();
  return *cache;
}

BlockCache::BlockCache() : limit_(kCacheEnabled ? limit_from_env() : 0) {}

// Eight classes per power of two (at most 12.5% slack), so a step's slightly different
// sizes still hit.
size_t BlockCache::size_class(size_t nbytes) {
  const size_t top = std::bit_floor(nbytes);
  const size_t step = std::max<size_t>(top / 8, kAlignment);
  return (nbytes + step - 1) / step * step;
}

void* BlockCache::allocate(size_t nbytes) {
  if (nbytes < kMinCachedBytes || limit_ == 0) return std::aligned_alloc(kAlignment, (nbytes + kAlignment - 1) / kAlignment * kAlignment);
  const size_t cls = size_class(nbytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      cached_ -= cls;
      return p;
    }
  }
  return std::aligned_alloc(kAlignment, cls);
}

void BlockCache::release(void* ptr, size_t nbytes) {
  if (nbytes < kMinCachedBytes || limit_ == 0) {
    std::free(ptr);
    return;
  }
  const size_t cls = size_class(nbytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + cls <= limit_) {
      free_[cls].push_back(ptr);
      cached_ += cls;
      return;
    }
  }
  std::free(ptr);
}

void BlockCache::empty() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [cls, blocks] : free_)
    for (void* p : blocks) std::free(p);
  free_.clear();
  cached_ = 0;
}

size_t BlockCache::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cached_;
}

}  // namespace ts::cpu
