#pragma once
// Tensor -> kernel arguments: dtype codes, device pointers and coalesced strided geometry,
// with ts::Error (naming the op) for anything the kernels cannot take.
#include <initializer_list>

#include <library_types.h>

#include "kernels/kernel_types.h"
#include "tessera/tensor.h"

namespace ts::cuda_detail {

inline kernels::ScalarType scalar_type(DType dt) { return static_cast<kernels::ScalarType>(dt); }

/// The cuBLAS data type of a float dtype; ts::Error naming `op` for any other.
cudaDataType_t cuda_data_type(const char* op, DType dt);

inline bool is_half(DType dt) { return dt == DType::Float16 || dt == DType::BFloat16; }

/// The dtype of the statistics (mean / rstd, log-sum-exp) kept for a float dtype: float64 for
/// float64, float32 otherwise.
inline DType stats_dtype(DType dt) { return dt == DType::Float64 ? DType::Float64 : DType::Float32; }

/// A contiguous copy of `t` converted to `dtype`, on t's GPU. The copy is stream-ordered, so the
/// caller may drop it as soon as the launch that reads it is enqueued.
Tensor contiguous_copy(const Tensor& t, DType dtype);

/// `t` itself when contiguous (or undefined), else a contiguous copy (contiguous_copy).
Tensor dense(const Tensor& t);

/// `t` itself when it is a contiguous tensor of `dtype` (or undefined), else a contiguous copy
/// converted to `dtype` (contiguous_copy).
Tensor dense(const Tensor& t, DType dtype);

/// ts::Error unless `out` is contiguous (the kernels write dense outputs).
void check_contiguous_output(const char* op, const Tensor& out);

/// ts::Error unless x is a floating-point (rows, normalized_size) matrix: the input of the
/// row-normalization entry points (layer_norm, rms_norm).
void check_float_row_matrix(const char* op, const Tensor& x);

/// An optional output (undefined passes) must be contiguous with `shape` and `dtype`.
void check_optional_output(const char* op, const char* what, const Tensor& t, const Shape& shape, DType dtype);

/// An optional input (undefined passes) must be floating-point with `shape`; any dtype and
/// strides, since it is converted with dense().
void check_optional_float_input(const char* op, const char* what, const Tensor& t, const Shape& shape);

/// Raw pointers of optional operands: nullptr for an undefined tensor.
inline const void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
inline void* mutable_data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

/// The first operand is the output: its shape is the iteration space; inputs have the same
/// shape (broadcast inputs arrive expanded with stride 0). Dims of size 1 are dropped and
/// adjacent dims merged where every operand allows it.
kernels::ElementwiseGeometry elementwise_geometry(const char* op, std::initializer_list<const Tensor*> operands);

/// One tensor's coalesced layout.
kernels::StridedLayout strided_layout(const char* op, const Tensor& t);

/// Device index of the operands, checking they are all CUDA tensors on one GPU.
int common_device(const char* op, std::initializer_list<const Tensor*> operands);

}  // namespace ts::cuda_detail
