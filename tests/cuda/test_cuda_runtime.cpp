// The CUDA runtime pieces on a real GPU: the caching allocator's stats and errors, streams
// and events, pinned memory with asynchronous copies, and transfers of every dtype.
#include <catch2/catch.hpp>

#include <set>

#include <tessera/tessera.h>

#include "cuda/cuda_test_util.h"

using namespace ts;
using ts::cuda_test::kCuda;

TEST_CASE("cuda runtime: the backend is registered and reports the device", "[cuda]") {
  REQUIRE(cuda::is_available());
  REQUIRE(cuda::device_count() >= 1);
  CHECK(cuda::unavailable_reason().empty());
  CHECK(is_available(DeviceType::CUDA));
  CHECK(backend_for(DeviceType::CUDA).name() == std::string("cuda"));
}

TEST_CASE("cuda runtime: host <-> device copies round-trip every dtype and strided views", "[cuda]") {
  for (DType dt : {kFloat32, kFloat64, kFloat16, kBFloat16, kInt32, kInt64, kUInt8, kBool}) {
    INFO(dtype_name(dt));
    const Tensor host = (randn({37, 5}, kFloat64) * 3).to(dt);
    const Tensor dev = host.to(kCuda);
    CHECK(dev.device() == kCuda);
    CHECK(equal(dev.to(Device()), host));
    const Tensor t = dev.transpose(0, 1);  // non-contiguous view on the GPU
    CHECK(equal(t.to(Device()), host.transpose(0, 1)));
  }
  const Tensor empty = zeros({0, 3}).to(kCuda);
  CHECK(empty.numel() == 0);
  CHECK(empty.to(Device()).shape() == Shape{0, 3});
}

TEST_CASE("cuda runtime: the caching allocator reuses freed blocks and tracks stats", "[cuda]") {
  cuda::synchronize();
  cuda::empty_cache();
  cuda::reset_peak_memory_stats();
  const auto before = cuda::memory_stats();
  void* first = nullptr;
  {
    Tensor a = empty({1024, 1024}, TensorOptions(kFloat32).with_device(kCuda));  // 4 MiB
    first = a.raw_data();
    const auto s = cuda::memory_stats();
    CHECK(s.allocated_bytes >= before.allocated_bytes + (4u << 20));
    CHECK(s.reserved_bytes >= s.allocated_bytes);
  }
  const auto after_free = cuda::memory_stats();
  CHECK(after_free.allocated_bytes == before.allocated_bytes);
  CHECK(after_free.reserved_bytes > before.reserved_bytes);  // cached, not returned
  {
    Tensor b = empty({1024, 1024}, TensorOptions(kFloat32).with_device(kCuda));
    CHECK(b.raw_data() == first);
    CHECK(cuda::memory_stats().num_device_allocs == after_free.num_device_allocs);
  }
  CHECK(cuda::memory_stats().peak_allocated_bytes >= before.allocated_bytes + (4u << 20));
  cuda::empty_cache();
  CHECK(cuda::memory_stats().reserved_bytes <= after_free.reserved_bytes - (4u << 20));
}

TEST_CASE("cuda runtime: out of memory is a ts::Error with the request and the stats", "[cuda]") {
  const auto ooms = cuda::memory_stats().num_ooms;
  // 1 PiB: no GPU has it.
  try {
    (void)empty({int64_t{1} << 48}, TensorOptions(kFloat32).with_device(kCuda));
    FAIL("expected an out-of-memory error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("out of memory on cuda:0"));
    CHECK_THAT(msg, Catch::Contains("1.00 PiB") || Catch::Contains("1048576.00 GiB"));
    CHECK_THAT(msg, Catch::Contains("reserved by the allocator"));
  }
  CHECK(cuda::memory_stats().num_ooms == ooms + 1);
  // The device is still usable.
  CHECK(sum(ones({1000}).to(kCuda)).item<double>() == 1000.0);
}

TEST_CASE("cuda runtime: work on a side stream is ordered by events", "[cuda]") {
  const cuda::Stream side = cuda::Stream::create();
  const Tensor x = randn({512, 512}).to(kCuda);
  Tensor y;
  cuda::Event done;
  {
    cuda::StreamGuard guard(side);
    CHECK(cuda::Stream::current() == side);
    y = matmul(x, x);
    done.record(side);
  }
  CHECK(cuda::Stream::current().handle() == nullptr);
  cuda::Stream::current().wait(done);
  const Tensor expected = matmul(x.to(Device()), x.to(Device()));
  CHECK(allclose(y.to(Device()), expected, 1e-3, 1e-3));
  done.synchronize();
  CHECK(done.query());
  CHECK(side.query());
}

TEST_CASE("cuda runtime: events time GPU work", "[cuda]") {
  const Tensor x = randn({2048, 2048}).to(kCuda);
  cuda::Event start, stop;
  start.record(cuda::Stream::current());
  for (int i = 0; i < 5; ++i) (void)matmul(x, x);
  stop.record(cuda::Stream::current());
  stop.synchronize();
  const float ms = start.elapsed_ms(stop);
  CHECK(ms > 0.0f);
  CHECK(ms < 10000.0f);
}

TEST_CASE("cuda runtime: pinned tensors copy asynchronously and stay valid until the copy is done", "[cuda]") {
  const Tensor host = randn({256, 1024});
  const Tensor pinned = cuda::pin_memory(host);
  CHECK(cuda::is_pinned(pinned));
  CHECK_FALSE(cuda::is_pinned(host));
  CHECK(equal(pinned, host));
  const Tensor dev = pinned.to(kCuda, /*non_blocking=*/true);
  CHECK(equal(dev.to(Device()), host));
  // Freeing the pinned source right after queueing a copy must not corrupt the copy.
  Tensor dev2;
  {
    const Tensor p2 = cuda::pin_memory(host * 2);
    dev2 = p2.to(kCuda, true);
  }
  const Tensor reuse = cuda::pin_memory(zeros({256, 1024}));  // may reuse the block only after the copy
  CHECK(equal(dev2.to(Device()), host * 2));
}

TEST_CASE("cuda runtime: a pin_memory DataLoader collates into pinned memory", "[cuda]") {
  const Tensor x = randn({64, 3, 8, 8}), y = arange(64);
  auto dataset = std::make_shared<data::TensorDataset>(x, y);
  for (const int workers : {0, 2}) {
    data::DataLoader loader(dataset, {.batch_size = 16, .num_workers = workers, .pin_memory = true});
    int64_t row = 0;
    for (data::Batch& b : loader) {
      CHECK(cuda::is_pinned(b.data));
      CHECK(cuda::is_pinned(b.target));
      // Already pinned and contiguous: pin_memory hands the tensor back without a copy.
      CHECK(cuda::pin_memory(b.data).raw_data() == b.data.raw_data());
      const Tensor dev = b.data.to(kCuda, /*non_blocking=*/true), tdev = b.target.to(kCuda, true);
      CHECK(equal(dev.to(Device()), narrow(x, 0, row, b.size())));
      CHECK(equal(tdev.to(Device()), narrow(y, 0, row, b.size())));
      row += b.size();
    }
    CHECK(row == 64);
  }
}

TEST_CASE("cuda runtime: Stream::create hands out a pool of 32 streams round-robin", "[cuda]") {
  const cuda::Stream first = cuda::Stream::create();
  std::set<void*> handles{first.handle()};
  for (int i = 1; i < 32; ++i) handles.insert(cuda::Stream::create().handle());
  CHECK(handles.size() == 32);
  CHECK(handles.count(nullptr) == 0);  // none is the legacy default stream
  CHECK(cuda::Stream::create() == first);
  REQUIRE_THROWS_WITH(cuda::Stream::create(cuda::device_count()), Catch::Contains("there is no CUDA device"));
}

TEST_CASE("cuda runtime: record_stream keeps a block from being reused under a running stream", "[cuda]") {
  const cuda::Stream side = cuda::Stream::create();
  Tensor a = randn({1 << 20}).to(kCuda);
  Tensor out;
  {
    cuda::StreamGuard guard(side);
    out = a * 2;
  }
  cuda::record_stream(a, side);
  void* p = a.raw_data();
  a = Tensor();
  const Tensor b = zeros({1 << 20}).to(kCuda);  // must not clobber `a` while `side` reads it
  (void)p;
  side.synchronize();
  CHECK(out.numel() == (1 << 20));
}

TEST_CASE("cuda runtime: mixing devices in one op is a clear error", "[cuda]") {
  const Tensor a = ones({3}).to(kCuda);
  const Tensor b = ones({3});
  CHECK_THROWS_AS(add(a, b), Error);
}
