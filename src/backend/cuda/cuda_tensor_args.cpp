#include "backend/cuda/cuda_tensor_args.h"

#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "tessera/error.h"

namespace ts::cuda_detail {

cudaDataType_t cuda_data_type(const char* op, DType dt) {
  switch (dt) {
    case DType::Float32: return CUDA_R_32F;
    case DType::Float64: return CUDA_R_64F;
    case DType::Float16: return CUDA_R_16F;
    case DType::BFloat16: return CUDA_R_16BF;
    default: TS_ERROR("{}: no cuBLAS type for {}", op, dtype_name(dt));
  }
}

Tensor contiguous_copy(const Tensor& t, DType dtype) {
  Tensor d = make_tensor(t.shape(), dtype, t.device());
  cuda_backend().copy(t, d);
  return d;
}

Tensor dense(const Tensor& t) { return !t.defined() || t.is_contiguous() ? t : contiguous_copy(t, t.dtype()); }

Tensor dense(const Tensor& t, DType dtype) {
  return !t.defined() || (t.dtype() == dtype && t.is_contiguous()) ? t : contiguous_copy(t, dtype);
}

void check_contiguous_output(const char* op, const Tensor& out) {
  TS_CHECK(out.is_contiguous(), "{}: expected a contiguous output but got shape {} with strides {}", op,
           shape_str(out.shape()), fmt::join(out.strides(), ", "));
}

void check_float_row_matrix(const char* op, const Tensor& x) {
  TS_CHECK(is_floating_point(x.dtype()), "{}: expected a floating-point input but got {} (shape {})", op,
           dtype_name(x.dtype()), shape_str(x.shape()));
  TS_CHECK(x.dim() == 2, "{}: expected x as a (rows, normalized_size) matrix but got shape {}", op,
           shape_str(x.shape()));
}

void check_optional_output(const char* op, const char* what, const Tensor& t, const Shape& shape, DType dtype) {
  if (!t.defined()) return;
  TS_CHECK(t.shape() == shape && t.dtype() == dtype && t.is_contiguous(),
           "{}: {} must be a contiguous {} tensor of shape {} but is {} of shape {}{}", op, what, dtype_name(dtype),
           shape_str(shape), dtype_name(t.dtype()), shape_str(t.shape()), t.is_contiguous() ? "" : " (strided)");
}

void check_optional_float_input(const char* op, const char* what, const Tensor& t, const Shape& shape) {
  if (!t.defined()) return;
  TS_CHECK(t.shape() == shape, "{}: {} must have shape {} but has shape {}", op, what, shape_str(shape),
           shape_str(t.shape()));
  TS_CHECK(is_floating_point(t.dtype()), "{}: {} must be floating-point but is {}", op, what, dtype_name(t.dtype()));
}

kernels::ElementwiseGeometry elementwise_geometry(const char* op, std::initializer_list<const Tensor*> operands) {
  TS_CHECK(operands.size() >= 1 && operands.size() <= static_cast<size_t>(kernels::kMaxOperands),
           "{}: a CUDA elementwise launch takes 1 to {} operands, got {}", op, kernels::kMaxOperands, operands.size());
  const Tensor& out = **operands.begin();
  const Shape& shape = out.shape();
  for (const Tensor* t : operands)
    TS_CHECK(t->shape() == shape, "{}: operand shape {} differs from the output's {}", op, shape_str(t->shape()),
             shape_str(shape));

  // Keep dims of size > 1, then merge dim d into d+1 when contiguous for every operand.
  std::vector<int64_t> sizes;
  std::vector<std::vector<int64_t>> strides(operands.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    sizes.push_back(shape[d]);
    size_t k = 0;
    for (const Tensor* t : operands) strides[k++].push_back(t->strides()[d]);
  }
  std::vector<int64_t> merged_sizes;
  std::vector<std::vector<int64_t>> merged(operands.size());
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (!merged_sizes.empty()) {
      bool can = true;
      for (size_t k = 0; k < operands.size(); ++k)
        if (merged[k].back() != strides[k][d] * sizes[d]) can = false;
      if (can) {
        merged_sizes.back() *= sizes[d];
        for (size_t k = 0; k < operands.size(); ++k) merged[k].back() = strides[k][d];
        continue;
      }
    }
    merged_sizes.push_back(sizes[d]);
    for (size_t k = 0; k < operands.size(); ++k) merged[k].push_back(strides[k][d]);
  }
  TS_CHECK(merged_sizes.size() <= static_cast<size_t>(kernels::kMaxDims),
           "{}: shape {} with these strides needs {} dimensions after coalescing; CUDA kernels take at most {}", op,
           shape_str(shape), merged_sizes.size(), kernels::kMaxDims);

  kernels::ElementwiseGeometry g;
  g.ndim = static_cast<int>(merged_sizes.size());
  g.num_operands = static_cast<int>(operands.size());
  g.numel = out.numel();
  g.contiguous = true;
  for (int d = 0; d < g.ndim; ++d) {
    g.sizes[d] = merged_sizes[static_cast<size_t>(d)];
    for (int k = 0; k < g.num_operands; ++k) g.strides[k][d] = merged[static_cast<size_t>(k)][static_cast<size_t>(d)];
  }
  // Dense row-major for all operands: one dim of stride 1 (or a scalar).
  for (int k = 0; k < g.num_operands; ++k)
    if (!(g.ndim == 0 || (g.ndim == 1 && g.strides[k][0] == 1))) g.contiguous = false;
  return g;
}

kernels::StridedLayout strided_layout(const char* op, const Tensor& t) {
  const kernels::ElementwiseGeometry g = elementwise_geometry(op, {&t});
  kernels::StridedLayout l;
  l.ndim = g.ndim;
  for (int d = 0; d < g.ndim; ++d) {
    l.sizes[d] = g.sizes[d];
    l.strides[d] = g.strides[0][d];
  }
  return l;
}

int common_device(const char* op, std::initializer_list<const Tensor*> operands) {
  int device = -1;
  for (const Tensor* t : operands) {
    if (!t->defined()) continue;
    TS_CHECK(t->device().is_cuda(), "{}: expected CUDA tensors but one is on {}", op, t->device().str());
    if (device < 0) device = t->device().index;
    TS_CHECK(t->device().index == device, "{}: operands are on cuda:{} and cuda:{}; move them to one GPU", op, device,
             t->device().index);
  }
  TS_CHECK(device >= 0, "{}: no defined CUDA operand", op);
  return device;
}

}  // namespace ts::cuda_detail
