#pragma once
// Launchers of the counter-based random fills (kernels/random.cu). They reproduce the CPU
// backend's stream (src/runtime/philox.h) element for element: element i of a dense output
// draws Philox4x32-10(seed, counter offset + i), turned into a double exactly as the CPU does.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/kernel_types.h"

namespace ts::kernels {

/// out[i] = low + (high - low) * U[0,1), for the n elements of a contiguous `out` of `type`.
cudaError_t fill_uniform(ScalarType type, void* out, int64_t n, double low, double high, uint64_t seed,
                         uint64_t offset, cudaStream_t stream);

/// out[i] = mean + std * N(0,1) (Box-Muller on one counter's four words).
cudaError_t fill_normal(ScalarType type, void* out, int64_t n, double mean, double std, uint64_t seed,
                        uint64_t offset, cudaStream_t stream);

}  // namespace ts::kernels
