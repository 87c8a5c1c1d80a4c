#pragma once
// The CUDA backend's allocators: one caching allocator per GPU (cudaMalloc segments) and one
// for pinned host memory (cudaHostAlloc segments). Created on first use, never destroyed:
// tensors in static storage may be freed after any static destructor has run.
#include "backend/caching_allocator.h"

namespace ts::cuda_detail {

detail::CachingAllocator& device_allocator(int device);
/// Pinned host blocks; a block freed while an asynchronous copy may still read it is reused
/// only after the work queued on the copying stream at free time has finished.
detail::CachingAllocator& pinned_allocator();
/// True when `ptr` lies in page-locked host memory (ours or anyone's).
bool is_pinned_host_pointer(const void* ptr);

}  // namespace ts::cuda_detail
