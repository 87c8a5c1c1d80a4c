#pragma once
// A caching allocator for device memory in the style of PyTorch's CUDACachingAllocator:
// segments obtained from the device are cut into blocks, freed blocks are kept in size-ordered
// pools and reused (split when much larger than the request, merged with free neighbours on
// release), and a block is only handed to a request on the stream it was allocated on, so
// stream-ordered work needs no synchronization on reuse.
//
// It knows nothing about CUDA: the device side is a DeviceMemorySource (raw segments and
// events), so the bookkeeping is tested on the CPU with a fake source
// (tests/backend/test_caching_allocator.cpp) and the CUDA backend plugs in cudaMalloc.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <map>
#include <utility>

#include "tessera/cuda.h"  // MemoryStats

namespace ts::detail {

/// A stream as the allocator sees it: an opaque id (the cudaStream_t's bits).
using StreamId = uintptr_t;

/// What the allocator needs from a device.
class DeviceMemorySource {
 public:
  virtual ~DeviceMemorySource() = default;
  /// A new segment of `nbytes`, or nullptr when the device is out of memory.
  virtual void* allocate_segment(size_t nbytes) = 0;
  virtual void free_segment(void* ptr, size_t nbytes) = 0;
  /// Records an event on `stream` capturing the work queued on it so far.
  virtual void* record_event(StreamId stream) = 0;
  virtual bool event_completed(void* event) = 0;
  virtual void destroy_event(void* event) = 0;
  /// Waits for all work on the device (before segments are returned to it).
  virtual void synchronize() = 0;
  /// For error messages, e.g. "cuda:0 (NVIDIA H100 80GB HBM3, 79.1 GiB)".
  virtual std::string describe() const = 0;
};

class CachingAllocator {
 public:
  /// Requests are rounded up to this many bytes (also every block's alignment within a segment).
  static constexpr size_t kRound = 512;
  /// Requests up to this size come from the small pool, in segments of kSmallSegment.
  static constexpr size_t kSmallRequest = 1 << 20;
  static constexpr size_t kSmallSegment = 2 << 20;
  /// Larger requests below kLargeSegmentFor share segments of kLargeSegment; bigger ones get a
  /// segment of their own, rounded up to kLargeRound.
  static constexpr size_t kLargeSegmentFor = 10 << 20;
  static constexpr size_t kLargeSegment = 20 << 20;
  static constexpr size_t kLargeRound = 2 << 20;

  explicit CachingAllocator(std::unique_ptr<DeviceMemorySource> source);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  /// A block of at least `nbytes` for use on `stream` (nullptr for 0 bytes). Out of memory
  /// after releasing the cache raises ts::Error with the request and the allocator's stats.
  void* allocate(size_t nbytes, StreamId stream);
  /// Returns a block; reuse waits for the work of every stream recorded on it.
  void free(void* ptr);
  /// Marks `ptr`'s block as used by `stream` too (see ts::cuda::record_stream).
  void record_stream(void* ptr, StreamId stream);
  /// The same for the live block containing `ptr` (any address inside it, e.g. a view's data);
  /// false, and nothing recorded, when no live block contains it.
  bool record_stream_containing(const void* ptr, StreamId stream);
  /// Returns every completely free segment to the device.
  void empty_cache();

  cuda::MemoryStats stats() const;
  void reset_peak_stats();
  /// One line: allocated / reserved / peak / cached, for error messages.
  std::string summary() const;

 private:
  struct Block;
  struct BySize {
    bool operator()(const Block* a, const Block* b) const;
  };
  using Pool = std::set<Block*, BySize>;

  Pool& pool_for(size_t size) { return size <= kSmallRequest ? small_ : large_; }
  static size_t round_size(size_t nbytes);
  static size_t segment_size_for(size_t rounded);
  Block* find_free_block(Pool& pool, size_t size, StreamId stream);
  Block* new_segment(size_t rounded, StreamId stream, bool small);
  void split(Block* block, size_t size);
  void release_to_pool(Block* block);
  void process_events();
  void release_free_segments();
  std::string summary_locked() const;

  std::unique_ptr<DeviceMemorySource> source_;
  mutable std::mutex mutex_;
  Pool small_, large_;
  std::map<uintptr_t, Block*> live_;  ///< allocated blocks by address (ordered: interior lookups)
  /// Blocks freed while other streams still used them: (event, block), oldest first.
  std::deque<std::pair<void*, Block*>> pending_;
  cuda::MemoryStats stats_;
};

}  // namespace ts::detail
