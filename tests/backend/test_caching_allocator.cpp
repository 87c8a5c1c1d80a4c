// The caching allocator's bookkeeping, on the CPU: a fake device hands out malloc'd segments
// up to a capacity and has events the test completes by hand. The CUDA backend runs the same
// code over cudaMalloc and CUDA events (tests/cuda/ checks it on a GPU).
#include <cstdlib>
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "backend/caching_allocator.h"

namespace {

using ts::detail::CachingAllocator;
using ts::detail::StreamId;

struct FakeDevice {
  size_t capacity = size_t{1} << 30;
  size_t in_use = 0;
  int segments_allocated = 0, segments_freed = 0, syncs = 0;
  std::map<void*, size_t> segments;
  std::map<int, bool> events;  ///< id -> completed
  int next_event = 1;
};

class FakeSource final : public ts::detail::DeviceMemorySource {
 public:
  explicit FakeSource(FakeDevice& d) : d_(d) {}
  void* allocate_segment(size_t n) override {
    if (d_.in_use + n > d_.capacity) return nullptr;
    void* p = std::malloc(n);
    d_.in_use += n;
    d_.segments[p] = n;
    ++d_.segments_allocated;
    return p;
  }
  void free_segment(void* p, size_t n) override {
    REQUIRE(d_.segments.at(p) == n);
    d_.segments.erase(p);
    d_.in_use -= n;
    ++d_.segments_freed;
    std::free(p);
  }
  void* record_event(StreamId) override {
    const int id = d_.next_event++;
    d_.events[id] = false;
    return reinterpret_cast<void*>(static_cast<uintptr_t>(id));
  }
  bool event_completed(void* e) override { return d_.events.at(static_cast<int>(reinterpret_cast<uintptr_t>(e))); }
  void destroy_event(void* e) override { d_.events.erase(static_cast<int>(reinterpret_cast<uintptr_t>(e))); }
  // A device synchronization completes every event.
  void synchronize() override {
    ++d_.syncs;
    for (auto& [id, done] : d_.events) done = true;
  }
  std::string describe() const override { return "fake:0"; }

 private:
  FakeDevice& d_;
};

constexpr StreamId kStreamA = 0, kStreamB = 0x1000;
constexpr size_t kMiB = size_t{1} << 20;

char* as_bytes(void* p) { return static_cast<char*>(p); }

}  // namespace

TEST_CASE("caching allocator: a freed block is reused without asking the device", "[allocator]") {
  FakeDevice dev;
  CachingAllocator alloc(std::make_unique<FakeSource>(dev));
  void* a = alloc.allocate(1000, kStreamA);
  alloc.free(a);
  void* b = alloc.allocate(700, kStreamA);  // same 1024-byte size class
  CHECK(b == a);
  CHECK(dev.segments_allocated == 1);
  const auto s = alloc.stats();
  CHECK(s.num_allocs == 2);
  CHECK(s.num_frees == 1);
  CHECK(s.num_device_allocs == 1);
  CHECK(s.allocated_bytes == 1024);  // rounded to 512-byte multiples
  CHECK(s.requested_bytes == 700);
  CHECK(s.reserved_bytes == CachingAllocator::kSmallSegment);
  alloc.free(b);
  CHECK(alloc.allocate(0, kStreamA) == nullptr);
}

TEST_CASE("caching allocator: small requests are cut from one 2 MiB segment and merge back", "[allocator]") {
  FakeDevice dev;
  CachingAllocator alloc(std::make_unique<FakeSource>(dev));
  void* a = alloc.allocate(512, kStreamA);
  void* b = alloc.allocate(1024, kStreamA);
  void* c = alloc.allocate(512, kStreamA);
  CHECK(dev.segments_allocated == 1);
  CHECK(as_bytes(b) == as_bytes(a) + 512);
  CHECK(as_bytes(c) == as_bytes(b) + 1024);
  // Freeing a and b leaves one merged 1536-byte hole at the start of the segment.
  alloc.free(b);
  alloc.free(a);
  void* d = alloc.allocate(1536, kStreamA);
  CHECK(d == a);
  alloc.free(d);
  alloc.free(c);
  // Everything merged: the whole segment serves a request of its full size.
  void* whole = alloc.allocate(CachingAllocator::kSmallRequest, kStreamA);
  CHECK(whole == a);
  CHECK(dev.segments_allocated == 1);
  alloc.free(whole);
}

TEST_CASE("caching allocator: large requests share 20 MiB segments, huge ones get their own", "[allocator]") {
  FakeDevice dev;
  CachingAllocator alloc(std::make_unique<FakeSource>(dev));
  void* a = alloc.allocate(3 * kMiB, kStreamA);
  void* b = alloc.allocate(5 * kMiB, kStreamA);
  CHECK(dev.segments_allocated == 1);
  CHECK(dev.in_use == CachingAllocator::kLargeSegment);
  CHECK(as_bytes(b) == as_bytes(a) + 3 * kMiB);
  void* huge = alloc.allocate(50 * kMiB + 1, kStreamA);
  CHECK(dev.segments_allocated == 2);
  CHECK(dev.segments.at(huge) == 52 * kMiB);  // rounded up to 2 MiB
  alloc.free(a);
  alloc.free(b);
  alloc.free(huge);
  CHECK(alloc.stats().allocated_bytes == 0);
}

TEST_CASE("caching allocator: blocks are reused only on the stream they were allocated on", "[allocator]") {
  FakeDevice dev;
  CachingAllocator alloc(std::make_unique<FakeSource>(dev));
  void* a = alloc.allocate(4096, kStreamA);
  alloc.free(a);
  void* b = alloc.allocate(4096, kStreamB);
  CHECK(b != a);
  CHECK(dev.segments_allocated == 2);
  void* c = alloc.allocate(4096, kStreamA);
  CHECK(c == a);
  alloc.free(b);
  alloc.free(c);
}

TEST_CASE("caching allocator: record_stream delays reuse until that stream's work is done", "[allocator]") {
  FakeDevice dev;
  CachingAllocator alloc(std::make_unique<FakeSource>(dev));
  void* a = alloc.allocate(4096, kStreamA);
  alloc.record_stream(a, kStreamB);
  alloc.record_stream(a, kStreamA);  // its own stream: nothing to wait for
  alloc.free(a);
  REQUIRE(dev.events.size() == 1);
  void* b = alloc.allocate(4096, kStreamA);
  CHECK(b != a);  // stream B may still be using a
  dev.events.begin()->second = true;
  alloc.free(b);
  void* c = alloc.allocate(4096, kStreamA);
  CHECK(c == a);  // the event completed: a is free (and merged with b's neighbourhood)
  CHECK(dev.events.empty());
  alloc.free(c);
}

TEST_CASE("caching allocator: record_stream_containing finds the block from any address inside it",
          "[allocator]") {
  FakeDevice dev;
  CachingAllocator alloc(std::make_unique<FakeSource>(dev));
  void* a = alloc.allocate(4096, kStreamA);
  void* b = alloc.allocate(4096, kStreamA);
  CHECK(alloc.record_stream_containing(as_bytes(a) + 100, kStreamB));  // a view into a
  CHECK_FALSE(alloc.record_stream_containing(as_bytes(b) + 4096 + 100, kStreamB));  // past b: free space
  int local = 0;
  CHECK_FALSE(alloc.record_stream_containing(&local, kStreamB));
  alloc.free(b);
  alloc.free(a);
  REQUIRE(dev.events.size() == 1);  // only a waits for stream B
  void* c = alloc.allocate(4096, kStreamA);
  CHECK(c == b);
  alloc.free(c);
}

TEST_CASE("caching allocator: empty_cache returns free segments and keeps used ones", "[allocator]") {
  FakeDevice dev;
  CachingAllocator alloc(std::make_unique<FakeSource>(dev));
  void* small = alloc.allocate(100, kStreamA);
  void* large = alloc.allocate(30 * kMiB, kStreamA);
  void* other = alloc.allocate(100, kStreamB);
  alloc.free(large);
  alloc.free(other);
  CHECK(dev.segments_allocated == 3);
  alloc.empty_cache();
  CHECK(dev.segments_freed == 2);
  CHECK(dev.segments.size() == 1);
  const auto s = alloc.stats();
  CHECK(s.reserved_bytes == CachingAllocator::kSmallSegment);
  CHECK(s.peak_reserved_bytes == 2 * CachingAllocator::kSmallSegment + 30 * kMiB);
  CHECK(s.num_segments == 1);
  alloc.reset_peak_stats();
  CHECK(alloc.stats().peak_reserved_bytes == CachingAllocator::kSmallSegment);
  alloc.free(small);
}

TEST_CASE("caching allocator: out of memory frees the cache and retries, then raises a ts::Error",
          "[allocator]") {
  FakeDevice dev;
  dev.capacity = 64 * kMiB;
  CachingAllocator alloc(std::make_unique<FakeSource>(dev));
  // 40 MiB cached in its own segment; 40 more only fit once the cache is released.
  void* a = alloc.allocate(40 * kMiB, kStreamA);
  alloc.free(a);
  void* b = alloc.allocate(40 * kMiB, kStreamB);
  CHECK(b != nullptr);
  CHECK(dev.segments_freed == 1);
  CHECK(dev.syncs == 1);
  // Now truly out of memory: the message names the request, the device and the stats.
  try {
    (void)alloc.allocate(30 * kMiB, kStreamA);
    FAIL("expected an out-of-memory error");
  } catch (const ts::Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("out of memory on fake:0"));
    CHECK_THAT(msg, Catch::Contains("30.00 MiB"));
    CHECK_THAT(msg, Catch::Contains("40.00 MiB allocated by tensors"));
    CHECK_THAT(msg, Catch::Contains("reserved"));
  }
  CHECK(alloc.stats().num_ooms == 1);
  // Still usable after the error.
  alloc.free(b);
  void* c = alloc.allocate(30 * kMiB, kStreamA);
  CHECK(c != nullptr);
  alloc.free(c);
}

TEST_CASE("caching allocator: freeing a foreign pointer is an error, and teardown returns every segment",
          "[allocator]") {
  FakeDevice dev;
  {
    CachingAllocator alloc(std::make_unique<FakeSource>(dev));
    int local = 0;
    CHECK_THROWS_WITH(alloc.free(&local), Catch::Contains("did not allocate"));
    (void)alloc.allocate(100, kStreamA);        // still live at teardown
    void* p = alloc.allocate(3 * kMiB, kStreamA);
    alloc.record_stream(p, kStreamB);
    alloc.free(p);                               // pending on an event
    (void)alloc.allocate(12 * kMiB, kStreamB);
  }
  CHECK(dev.segments.empty());
  CHECK(dev.events.empty());
}

TEST_CASE("caching allocator: many random allocations keep the stats consistent", "[allocator]") {
  FakeDevice dev;
  CachingAllocator alloc(std::make_unique<FakeSource>(dev));
  std::vector<std::pair<void*, size_t>> live;
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  size_t requested = 0;
  for (int i = 0; i < 2000; ++i) {
    if (live.empty() || next() % 2 != 0) {
      const size_t n = (next() % 8 == 0) ? 1 + next() % (24 * kMiB) : 1 + next() % 20000;
      void* p = alloc.allocate(n, (next() % 2) ? kStreamA : kStreamB);
      // No two live blocks overlap.
      bool overlaps = false;
      for (auto& [q, m] : live) overlaps |= !(as_bytes(p) + n <= as_bytes(q) || as_bytes(q) + m <= as_bytes(p));
      REQUIRE_FALSE(overlaps);
      live.emplace_back(p, n);
      requested += n;
    } else {
      const size_t k = next() % live.size();
      alloc.free(live[k].first);
      requested -= live[k].second;
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
    }
    REQUIRE(alloc.stats().requested_bytes == requested);
  }
  for (auto& [p, n] : live) alloc.free(p);
  alloc.empty_cache();
  const auto s = alloc.stats();
  CHECK(s.allocated_bytes == 0);
  CHECK(s.reserved_bytes == 0);
  CHECK(dev.segments.empty());
}
