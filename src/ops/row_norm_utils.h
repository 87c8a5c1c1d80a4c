#pragma once
// What layer_norm (norm.cpp) and rms_norm (rms_norm.cpp) share: the dtype of the saved row
// statistics and the 2-d / 1-d views their Backend entry points take.
#include <cstdint>

#include "tessera/tensor.h"

namespace ts::row_norm {

/// Saved statistics (mean, rstd) are float64 for float64 inputs and float32 otherwise.
inline DType stats_dtype(DType x) { return x == DType::Float64 ? DType::Float64 : DType::Float32; }

/// A (rows, cols) view of contiguous `t`.
inline Tensor as_matrix(const Tensor& t, int64_t rows, int64_t cols) {
  return make_view(t, {rows, cols}, {cols, 1}, t.storage_offset());
}

/// A flat (n) view of contiguous `t`; undefined stays undefined (an absent weight or bias).
inline Tensor as_vector(const Tensor& t, int64_t n) {
  return t.defined() ? make_view(t, {n}, {1}, t.storage_offset()) : Tensor();
}

}  // namespace ts::row_norm
