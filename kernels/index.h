#pragma once
// Indexing along one dim: index_select / index_add (embedding forward / backward) and
// gather / scatter_add. Index tensors are int64 and already range-checked by the op layer.
// Accumulating kernels use atomics (float results may differ from the CPU's sequential sum in
// the last bits when indices repeat); float16 / bfloat16 accumulate in a float32 copy of the
// output that is rounded once at the end, as the CPU backend does.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/kernel_types.h"

namespace ts::kernels {

/// A tensor viewed as (outer, size, inner) around the indexed dim.
struct DimView {
  int64_t outer = 1, size = 1, inner = 1;
};

/// out (outer, n, inner) = x (outer, x_size, inner)[:, index[j * index_stride], :]; x and out
/// contiguous; pure data movement, so any dtype of `element_size` bytes.
cudaError_t index_select(const void* x, DimView x_view, const int64_t* index, int64_t n, int64_t index_stride,
                         void* out, size_t element_size, cudaStream_t stream);

/// out (outer, out_size, inner)[:, index[j * index_stride], :] += src (outer, n, inner)[:, j, :];
/// out and src contiguous, same dtype (any). `scratch`: out's element count in float32 for
/// float16 / bfloat16 (null otherwise).
cudaError_t index_add(void* out, DimView out_view, const int64_t* index, int64_t n, int64_t index_stride,
                      const void* src, ScalarType type, float* scratch, cudaStream_t stream);

/// Over the iteration space of g (index's shape; operand 0 = out, 1 = index, 2 = x with
/// stride 0 along dim): out[o0] = x[o2 + index[o1] * x_dim_stride].
cudaError_t gather(const void* x, const int64_t* index, void* out, const ElementwiseGeometry& g,
                   int64_t x_dim_stride, size_t element_size, cudaStream_t stream);

/// Over g (index's shape; operand 0 = src, 1 = index, 2 = out with stride 0 along dim):
/// out[o2 + index[o1] * out_dim_stride] += src[o0]. out is contiguous with out_numel elements;
/// `scratch` as for index_add.
cudaError_t scatter_add(void* out, int64_t out_numel, const int64_t* index, const void* src,
                        const ElementwiseGeometry& g, int64_t out_dim_stride, ScalarType type, float* scratch,
                        cudaStream_t stream);

}  // namespace ts::kernels
