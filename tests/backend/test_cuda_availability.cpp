// ts::cuda on whatever this machine has: with no usable GPU (or no CUDA build) the API says
// why and every device operation raises a ts::Error naming itself, instead of crashing; with
// a GPU it reports one. The GPU behaviour itself is tested in tests/cuda/.
#include <catch2/catch.hpp>

#include <tessera/tessera.h>

using namespace ts;

TEST_CASE("cuda availability is reported, and its absence is a clear error", "[cuda_api]") {
  if (cuda::is_available()) {
    CHECK(cuda::device_count() >= 1);
    CHECK(cuda::unavailable_reason().empty());
    CHECK(is_available(DeviceType::CUDA));
    return;
  }
  CHECK(cuda::device_count() == 0);
  CHECK_FALSE(cuda::unavailable_reason().empty());
  CHECK_FALSE(is_available(DeviceType::CUDA));
  for (Backend* b : available_backends()) CHECK(b->type() != DeviceType::CUDA);
  CHECK_FALSE(cuda::is_pinned(ones({3})));
  CHECK_THROWS_WITH(cuda::memory_stats(), Catch::Contains("ts::cuda::memory_stats"));
  CHECK_THROWS_WITH(cuda::empty_cache(), Catch::Contains("ts::cuda::empty_cache"));
  CHECK_THROWS_WITH(cuda::pin_memory(ones({3})), Catch::Contains("pin_memory"));
  CHECK_THROWS_WITH(cuda::Stream::create(), Catch::Contains("Stream::create"));
  CHECK_THROWS_WITH(cuda::Event(), Catch::Contains("Event"));
  // Tensors cannot be put on the GPU; the message says why.
  CHECK_THROWS_WITH(ones({3}).to(Device("cuda")), Catch::Contains("cuda"));
  CHECK_THROWS_WITH(zeros({2}, TensorOptions().with_device(Device("cuda"))), Catch::Contains("cuda"));
}
