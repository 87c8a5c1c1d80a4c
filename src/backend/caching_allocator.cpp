#include "backend/caching_allocator.h"

#include <algorithm>
#include <iterator>
#include <vector>

#include <fmt/format.h>

#include "tessera/error.h"

namespace ts::detail {

struct CachingAllocator::Block {
  void* ptr = nullptr;
  size_t size = 0;       ///< bytes this block spans within its segment
  size_t requested = 0;  ///< what the caller asked for (stats only)
  StreamId stream = 0;   ///< the stream it was allocated on; reuse is limited to it
  bool small = false;    ///< which pool it returns to
  bool allocated = false;
  int pending_events = 0;            ///< events still to complete before reuse
  std::set<StreamId> stream_uses;    ///< other streams recorded with record_stream
  Block* prev = nullptr;             ///< neighbours within the same segment
  Block* next = nullptr;
  size_t segment_size = 0;  ///< set on a segment's first block: what free_segment gets back
};

// Free blocks are ordered by (stream, size, address): lower_bound finds the smallest block
// of this stream that fits, and ties go to the lowest address (less fragmentation).
bool CachingAllocator::BySize::operator()(const Block* a, const Block* b) const {
  if (a->stream != b->stream) return a->stream < b->stream;
  if (a->size != b->size) return a->size < b->size;
  return reinterpret_cast<uintptr_t>(a->ptr) < reinterpret_cast<uintptr_t>(b->ptr);
}

namespace {
std::string bytes_str(size_t n) {
  const double v = static_cast<double>(n);
  if (n >= (size_t{1} << 30)) return fmt::format("{:.2f} GiB", v / (1 << 30));
  if (n >= (size_t{1} << 20)) return fmt::format("{:.2f} MiB", v / (1 << 20));
  if (n >= (size_t{1} << 10)) return fmt::format("{:.2f} KiB", v / (1 << 10));
  return fmt::format("{} bytes", n);
}
}  // namespace

CachingAllocator::CachingAllocator(std::unique_ptr<DeviceMemorySource> source) : source_(std::move(source)) {}

CachingAllocator::~CachingAllocator() {
  // Returns every segment, in use or not. The CUDA backend never destroys its allocators
  // (tensors in static storage may outlive any destruction order), so this runs for
  // allocators with a shorter life, e.g. in tests.
  std::set<Block*> heads;
  auto add_head = [&](Block* b) {
    while (b->prev != nullptr) b = b->prev;
    heads.insert(b);
  };
  for (Block* b : small_) add_head(b);
  for (Block* b : large_) add_head(b);
  for (auto& [ptr, b] : live_) add_head(b);
  for (auto& [event, b] : pending_) {
    source_->destroy_event(event);
    add_head(b);
  }
  for (Block* head : heads) {
    source_->free_segment(head->ptr, head->segment_size);
    for (Block* b = head; b != nullptr;) {
      Block* next = b->next;
      delete b;
      b = next;
    }
  }
}

size_t CachingAllocator::round_size(size_t nbytes) { return (nbytes + kRound - 1) / kRound * kRound; }

size_t CachingAllocator::segment_size_for(size_t rounded) {
  if (rounded <= kSmallRequest) return kSmallSegment;
  if (rounded < kLargeSegmentFor) return kLargeSegment;
  return (rounded + kLargeRound - 1) / kLargeRound * kLargeRound;
}

CachingAllocator::Block* CachingAllocator::find_free_block(Pool& pool, size_t size, StreamId stream) {
  Block key;
  key.stream = stream;
  key.size = size;
  auto it = pool.lower_bound(&key);
  if (it == pool.end() || (*it)->stream != stream) return nullptr;
  Block* b = *it;
  // A huge cached block is not cut for a much smaller large request: that would pin the
  // segment for a long time (PyTorch's max_split_size idea, fixed at one segment's size).
  if (!b->small && b->size >= kLargeSegmentFor && b->size > 2 * size && size >= kLargeSegmentFor) return nullptr;
  pool.erase(it);
  return b;
}

CachingAllocator::Block* CachingAllocator::new_segment(size_t rounded, StreamId stream, bool small) {
  const size_t seg = segment_size_for(rounded);
  void* p = source_->allocate_segment(seg);
  if (p == nullptr) {
    // Out of memory: give back whatever the cache holds (after the device's queued work
    // finishes, so pending blocks become free too) and try once more.
    source_->synchronize();
    process_events();
    release_free_segments();
    p = source_->allocate_segment(seg);
  }
  if (p == nullptr) return nullptr;
  auto* b = new Block;
  b->ptr = p;
  b->size = seg;
  b->stream = stream;
  b->small = small;
  b->segment_size = seg;
  stats_.reserved_bytes += seg;
  stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  ++stats_.num_device_allocs;
  ++stats_.num_segments;
  return b;
}

void CachingAllocator::split(Block* block, size_t size) {
  // Split off the tail when what remains is worth keeping: any 512-byte multiple in the
  // small pool, more than 1 MiB in the large pool (smaller slivers fragment it).
  const size_t remaining = block->size - size;
  const bool worth = block->small ? remaining >= kRound : remaining > kSmallRequest;
  if (!worth) return;
  auto* rest = new Block;
  rest->ptr = static_cast<char*>(block->ptr) + size;
  rest->size = remaining;
  rest->stream = block->stream;
  rest->small = block->small;
  rest->prev = block;
  rest->next = block->next;
  if (rest->next) rest->next->prev = rest;
  block->next = rest;
  block->size = size;
  (block->small ? small_ : large_).insert(rest);
}

void* CachingAllocator::allocate(size_t nbytes, StreamId stream) {
  if (nbytes == 0) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  process_events();
  const size_t size = round_size(nbytes);
  const bool small = size <= kSmallRequest;
  Pool& pool = pool_for(size);
  Block* b = find_free_block(pool, size, stream);
  if (b == nullptr) {
    b = new_segment(size, stream, small);
    if (b == nullptr) {
      ++stats_.num_ooms;
      TS_ERROR("out of memory on {}: tried to allocate {} ({} bytes); {}. Free tensors you no longer need, "
               "lower the batch size, or call ts::cuda::empty_cache() if another library needs the memory",
               source_->describe(), bytes_str(nbytes), nbytes, summary_locked());
    }
  }
  split(b, size);
  b->allocated = true;
  b->requested = nbytes;
  live_.emplace(reinterpret_cast<uintptr_t>(b->ptr), b);
  stats_.allocated_bytes += b->size;
  stats_.requested_bytes += nbytes;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  ++stats_.num_allocs;
  return b->ptr;
}

void CachingAllocator::free(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(reinterpret_cast<uintptr_t>(ptr));
  TS_CHECK(it != live_.end(), "caching allocator ({}): free of a pointer it did not allocate", source_->describe());
  Block* b = it->second;
  live_.erase(it);
  b->allocated = false;
  stats_.allocated_bytes -= b->size;
  stats_.requested_bytes -= b->requested;
  ++stats_.num_frees;
  if (b->stream_uses.empty()) {
    release_to_pool(b);
    return;
  }
  // Other streams may still read or write this memory: it becomes reusable once the work
  // they have queued so far is done.
  for (StreamId s : b->stream_uses) {
    pending_.emplace_back(source_->record_event(s), b);
    ++b->pending_events;
  }
  b->stream_uses.clear();
}

void CachingAllocator::record_stream(void* ptr, StreamId stream) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(reinterpret_cast<uintptr_t>(ptr));
  TS_CHECK(it != live_.end(), "record_stream ({}): the pointer is not a live allocation", source_->describe());
  if (stream != it->second->stream) it->second->stream_uses.insert(stream);
}

bool CachingAllocator::record_stream_containing(const void* ptr, StreamId stream) {
  const auto addr = reinterpret_cast<uintptr_t>(ptr);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.upper_bound(addr);  // the first block starting after addr
  if (it == live_.begin()) return false;
  Block* b = std::prev(it)->second;
  if (addr >= reinterpret_cast<uintptr_t>(b->ptr) + b->size) return false;
  if (stream != b->stream) b->stream_uses.insert(stream);
  return true;
}

void CachingAllocator::release_to_pool(Block* b) {
  Pool& pool = b->small ? small_ : large_;
  // Merge with free neighbours of the same segment.
  auto mergeable = [](const Block* n) { return n != nullptr && !n->allocated && n->pending_events == 0; };
  if (mergeable(b->prev)) {
    Block* p = b->prev;
    pool.erase(p);
    p->size += b->size;
    p->next = b->next;
    if (p->next) p->next->prev = p;
    delete b;
    b = p;
  }
  if (mergeable(b->next)) {
    Block* n = b->next;
    pool.erase(n);
    b->size += n->size;
    b->next = n->next;
    if (b->next) b->next->prev = b;
    delete n;
  }
  pool.insert(b);
}

void CachingAllocator::process_events() {
  // Events complete in order per stream but not across streams: check each, keep the rest.
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (!source_->event_completed(it->first)) {
      ++it;
      continue;
    }
    source_->destroy_event(it->first);
    Block* b = it->second;
    it = pending_.erase(it);
    if (--b->pending_events == 0) release_to_pool(b);
  }
}

void CachingAllocator::release_free_segments() {
  for (Pool* pool : {&small_, &large_}) {
    for (auto it = pool->begin(); it != pool->end();) {
      Block* b = *it;
      if (b->prev == nullptr && b->next == nullptr) {  // the whole segment is free
        source_->free_segment(b->ptr, b->segment_size);
        stats_.reserved_bytes -= b->segment_size;
        ++stats_.num_device_frees;
        --stats_.num_segments;
        delete b;
        it = pool->erase(it);
      } else {
        ++it;
      }
    }
  }
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  source_->synchronize();
  process_events();
  release_free_segments();
}

cuda::MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

std::string CachingAllocator::summary() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return summary_locked();
}

std::string CachingAllocator::summary_locked() const {
  return fmt::format("{} allocated by tensors (peak {}), {} reserved by the allocator (peak {}) of which {} is cached "
                     "and free, {} segments, {} out-of-memory errors so far",
                     bytes_str(stats_.allocated_bytes), bytes_str(stats_.peak_allocated_bytes),
                     bytes_str(stats_.reserved_bytes), bytes_str(stats_.peak_reserved_bytes),
                     bytes_str(stats_.reserved_bytes - stats_.allocated_bytes), stats_.num_segments, stats_.num_ooms);
}

}  // namespace ts::detail
