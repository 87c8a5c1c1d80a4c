#include <cstdlib>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_block_cache.h"

namespace ts {

CpuBackend& cpu_backend() {
  static CpuBackend instance;
  return instance;
}

namespace {
constexpr size_t kAlignment = 64;  // a cache line; also what AVX-512 loads like
}

void* CpuBackend::allocate(size_t nbytes, int) {
  // Zero bytes still get a (distinct) pointer.
  void* p = cpu::BlockCache::instance().allocate(nbytes == 0 ? kAlignment : nbytes);
  TS_CHECK(p != nullptr, "cpu: out of memory allocating {} bytes", nbytes);
  return p;
}

void CpuBackend::deallocate(void* ptr, size_t nbytes, int) {
  cpu::BlockCache::instance().release(ptr, nbytes == 0 ? kAlignment : nbytes);
}

void CpuBackend::copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) {
  TS_CHECK(dst_device.is_cpu() && src_device.is_cpu(), "cpu backend: cannot copy between {} and {}",
           src_device.str(), dst_device.str());
  if (nbytes > 0) std::memcpy(dst, src, nbytes);
}

}  // namespace ts
