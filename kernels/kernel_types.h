#pragma once
// What the host side passes to our CUDA kernels' launchers: plain structs of sizes, strides
// and dtype codes, no framework types. Included by kernels/*.cu and by the CUDA backend's
// host code (src/backend/cuda/), which fills them from ts::Tensor.
#include <cstdint>

#include <cuda_runtime_api.h>

namespace ts::kernels {

/// Element types, in ts::DType's order (the backend converts with a static_cast).
enum class ScalarType : uint8_t { F32, F64, F16, BF16, I32, I64, U8, Bool };

/// After coalescing, strided launches support this many dimensions (the host side raises
/// ts::Error naming the op beyond it).
inline constexpr int kMaxDims = 8;
/// Operands of one elementwise launch: the output plus up to three inputs.
inline constexpr int kMaxOperands = 4;

/// Shape shared by every operand and each operand's strides, in elements (0 = broadcast).
/// Dimension 0 is the outermost. `contiguous` is set when every operand is dense row-major,
/// so kernels can use flat (vectorized) indexing.
struct ElementwiseGeometry {
  int ndim = 0;
  int num_operands = 0;
  int64_t numel = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxOperands][kMaxDims] = {};
  bool contiguous = false;
};

/// One operand's geometry for kernels that walk a single strided tensor.
struct StridedLayout {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
};

/// Element offset of linear index `i` (row-major over g.sizes) in operand `k`.
#if defined(__CUDACC__)
__host__ __device__
#endif
inline int64_t operand_offset(const ElementwiseGeometry& g, int k, int64_t i) {
  int64_t off = 0;
  for (int d = g.ndim - 1; d >= 0; --d) {
    const int64_t s = g.sizes[d];
    off += (i % s) * g.strides[k][d];
    i /= s;
  }
  return off;
}

}  // namespace ts::kernels
