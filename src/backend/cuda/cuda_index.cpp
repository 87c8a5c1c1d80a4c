// CudaBackend indexing (kernels/index.cu): index_select / index_add over (outer, size, inner)
// views of contiguous tensors; gather / scatter_add over the index tensor's shape with each
// operand's own strides (the indexed operand viewed with stride 0 along `dim`, its position
// there coming from the index value).
#include <algorithm>
#include <initializer_list>
#include <utility>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/index.h"

namespace ts {
namespace {

using cuda_detail::check_contiguous_output;
using cuda_detail::dense;
using cuda_detail::is_half;

// The float32 accumulation copy index_add / scatter_add use for 16-bit outputs.
Tensor half_scratch(const Tensor& out) {
  return is_half(out.dtype()) ? make_tensor(out.shape(), DType::Float32, out.device()) : Tensor();
}
float* scratch_ptr(const Tensor& t) { return t.defined() ? static_cast<float*>(t.raw_data()) : nullptr; }

const int64_t* index_ptr(const Tensor& index) { return static_cast<const int64_t*>(index.raw_data()); }

int64_t check_dim(const char* op, const Tensor& t, int64_t dim) {
  const int64_t nd = t.dim() == 0 ? 1 : t.dim();
  TS_CHECK(dim >= 0 && dim < nd, "{}: dim {} is out of range for shape {}", op, dim, shape_str(t.shape()));
  return dim;
}

void check_index(const char* op, const Tensor& index) {
  TS_CHECK(index.dtype() == DType::Int64, "{}: expected an int64 index but got {}", op, dtype_name(index.dtype()));
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  TS_CHECK(a.dtype() == b.dtype(), "{}: expected operands of one dtype but got {} and {}", op, dtype_name(a.dtype()),
           dtype_name(b.dtype()));
}

// `t` as (outer, size, inner) around `dim` (a 0-d tensor is a 1-element vector).
kernels::DimView dim_view(const Tensor& t, int64_t dim) {
  kernels::DimView v;
  if (t.dim() == 0) return v;
  const auto d = static_cast<size_t>(dim);
  for (size_t i = 0; i < d; ++i) v.outer *= t.shape()[i];
  v.size = t.shape()[d];
  for (size_t i = d + 1; i < t.shape().size(); ++i) v.inner *= t.shape()[i];
  return v;
}

// A 1-element-per-position index vector: its element count and stride.
std::pair<int64_t, int64_t> index_vector(const char* op, const Tensor& index) {
  check_index(op, index);
  TS_CHECK(index.dim() <= 1, "{}: index must be a vector (0-d or 1-d) but has shape {}", op, shape_str(index.shape()));
  return {index.numel(), index.dim() == 1 ? index.strides()[0] : 0};
}

// `other`'s shape with dim `dim` of size n (what index_select writes / index_add reads).
void check_selected_shape(const char* op, const Tensor& base, int64_t dim, int64_t n, const Tensor& selected) {
  Shape expected = base.dim() == 0 ? Shape{1} : base.shape();
  expected[static_cast<size_t>(dim)] = n;
  const bool scalar_ok = base.dim() == 0 && selected.numel() == n;  // 0-d in, 0-d index: 0-d out
  TS_CHECK(selected.shape() == expected || scalar_ok, "{}: expected a tensor of shape {} but got shape {}", op,
           shape_str(expected), shape_str(selected.shape()));
}

// `t` viewed with index's shape: its own strides, or stride 0 along `dim` when `zero_dim`
// (the indexed operand, whose position along dim comes from the index values).
Tensor view_as_index(const Tensor& t, const Tensor& index, int64_t dim, bool zero_dim) {
  Strides strides = t.dim() == 0 ? Strides{1} : t.strides();
  if (zero_dim) strides[static_cast<size_t>(dim)] = 0;
  return make_view(t, index.dim() == 0 ? Shape{1} : index.shape(), strides, t.storage_offset());
}

// gather / scatter_add: index has as many dims as `data` and fits inside `data` (except
// along dim) and inside `other` (everywhere; other = gather's out / scatter_add's src).
void check_gather_shapes(const char* op, const Tensor& data, const Tensor& index, const Tensor& other, int64_t dim,
                         bool other_exact) {
  check_index(op, index);
  const int64_t nd = std::max<int64_t>(data.dim(), 1);
  TS_CHECK(std::max<int64_t>(index.dim(), 1) == nd && std::max<int64_t>(other.dim(), 1) == nd,
           "{}: index of shape {} must have as many dimensions as the input of shape {}", op,
           shape_str(index.shape()), shape_str(data.shape()));
  auto size = [](const Tensor& t, int64_t d) { return t.dim() == 0 ? int64_t{1} : t.shape()[static_cast<size_t>(d)]; };
  for (int64_t d = 0; d < nd; ++d) {
    TS_CHECK(d == dim || size(index, d) <= size(data, d),
             "{}: index of shape {} is larger than the input of shape {} in dimension {}", op,
             shape_str(index.shape()), shape_str(data.shape()), d);
    const bool fits = other_exact ? size(index, d) == size(other, d) : size(index, d) <= size(other, d);
    TS_CHECK(fits, "{}: index of shape {} does not fit the tensor of shape {} in dimension {}", op,
             shape_str(index.shape()), shape_str(other.shape()), d);
  }
}

}  // namespace

void CudaBackend::index_select(const Tensor& x_in, int64_t dim, const Tensor& index, const Tensor& out) {
  constexpr const char* op = "index_select";
  const int dev = cuda_detail::common_device(op, {&x_in, &index, &out});
  check_dim(op, x_in, dim);
  const auto [n, index_stride] = index_vector(op, index);
  check_same_dtype(op, x_in, out);
  check_contiguous_output(op, out);
  check_selected_shape(op, x_in, dim, n, out);
  if (out.numel() == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor x = dense(x_in);
  TS_CUDA_CHECK(kernels::index_select(x.raw_data(), dim_view(x, dim), index_ptr(index), n, index_stride,
                                      out.raw_data(), x.element_size(), cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src_in) {
  constexpr const char* op = "index_add";
  const int dev = cuda_detail::common_device(op, {&out, &index, &src_in});
  check_dim(op, out, dim);
  const auto [n, index_stride] = index_vector(op, index);
  check_same_dtype(op, out, src_in);
  check_contiguous_output(op, out);
  check_selected_shape(op, out, dim, n, src_in);
  if (n == 0 || out.numel() == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor src = dense(src_in);
  const Tensor scratch = half_scratch(out);
  TS_CUDA_CHECK(kernels::index_add(out.raw_data(), dim_view(out, dim), index_ptr(index), n, index_stride,
                                   src.raw_data(), cuda_detail::scalar_type(out.dtype()), scratch_ptr(scratch),
                                   cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  constexpr const char* op = "gather";
  const int dev = cuda_detail::common_device(op, {&x, &index, &out});
  check_dim(op, x, dim);
  check_same_dtype(op, x, out);
  check_contiguous_output(op, out);
  check_gather_shapes(op, x, index, out, dim, true);
  if (out.numel() == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor out_v = view_as_index(out, index, dim, false), index_v = view_as_index(index, index, dim, false);
  const Tensor x_v = view_as_index(x, index, dim, true);
  const kernels::ElementwiseGeometry g = cuda_detail::elementwise_geometry(op, {&out_v, &index_v, &x_v});
  const int64_t x_dim_stride = x.dim() == 0 ? 1 : x.strides()[static_cast<size_t>(dim)];
  TS_CUDA_CHECK(kernels::gather(x.raw_data(), index_ptr(index), out.raw_data(), g, x_dim_stride, x.element_size(),
                                cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  constexpr const char* op = "scatter_add";
  const int dev = cuda_detail::common_device(op, {&out, &index, &src});
  check_dim(op, out, dim);
  check_same_dtype(op, out, src);
  check_contiguous_output(op, out);
  check_gather_shapes(op, out, index, src, dim, false);
  if (index.numel() == 0 || out.numel() == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor src_v = view_as_index(src, index, dim, false), index_v = view_as_index(index, index, dim, false);
  const Tensor out_v = view_as_index(out, index, dim, true);
  const kernels::ElementwiseGeometry g = cuda_detail::elementwise_geometry(op, {&src_v, &index_v, &out_v});
  const int64_t out_dim_stride = out.dim() == 0 ? 1 : out.strides()[static_cast<size_t>(dim)];
  const Tensor scratch = half_scratch(out);
  TS_CUDA_CHECK(kernels::scatter_add(out.raw_data(), out.numel(), index_ptr(index), src.raw_data(), g, out_dim_stride,
                                     cuda_detail::scalar_type(out.dtype()), scratch_ptr(scratch),
                                     cuda_detail::current_stream(dev)),
                op);
}

}  // namespace ts
