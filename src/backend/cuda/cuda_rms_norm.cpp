// CudaBackend rms_norm and its backward (kernels/rms_norm.cu): argument checks, dense operands,
// scratch for the deterministic weight-gradient partial sums, and the launches.
#include <initializer_list>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/rms_norm.h"

namespace ts {
namespace {

// rstd has stats_dtype(x), as the op layer allocates it.
using cuda_detail::stats_dtype;
// Operands as contiguous tensors of the dtype the kernels take (undefined stays undefined).
using cuda_detail::dense;

using cuda_detail::data_or_null;
using cuda_detail::mutable_data_or_null;
using cuda_detail::check_optional_float_input;
using cuda_detail::check_optional_output;
using cuda_detail::check_float_row_matrix;

}  // namespace

void CudaBackend::rms_norm(const Tensor& x_in, const Tensor& weight, double eps, const Tensor& y, const Tensor& rstd) {
  constexpr const char* op = "rms_norm";
  const int dev = cuda_detail::common_device(op, {&x_in, &weight, &y, &rstd});
  check_float_row_matrix(op, x_in);
  const int64_t rows = x_in.shape()[0], d = x_in.shape()[1];
  const DType dt = x_in.dtype();
  check_optional_float_input(op, "weight", weight, {d});
  TS_CHECK(y.defined(), "{}: the output y is required", op);
  check_optional_output(op, "y", y, x_in.shape(), dt);
  TS_CHECK(rstd.defined(), "{}: the rstd output is required", op);
  check_optional_output(op, "rstd", rstd, {rows}, stats_dtype(dt));
  if (rows == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor x = dense(x_in, dt), w = dense(weight, dt);
  TS_CUDA_CHECK(kernels::rms_norm_forward(x.raw_data(), data_or_null(w), eps, rows, d, y.raw_data(), rstd.raw_data(),
                                          cuda_detail::scalar_type(dt), cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::rms_norm_backward(const Tensor& grad_y, const Tensor& x_in, const Tensor& rstd, const Tensor& weight,
                                    const Tensor& grad_x, const Tensor& grad_weight) {
  constexpr const char* op = "rms_norm_backward";
  const int dev = cuda_detail::common_device(op, {&grad_y, &x_in, &rstd, &weight, &grad_x, &grad_weight});
  check_float_row_matrix(op, x_in);
  const int64_t rows = x_in.shape()[0], d = x_in.shape()[1];
  const DType dt = x_in.dtype();
  check_optional_float_input(op, "grad_y", grad_y, x_in.shape());
  check_optional_float_input(op, "weight", weight, {d});
  TS_CHECK(rstd.defined(), "{}: rstd is required", op);
  check_optional_float_input(op, "rstd", rstd, {rows});
  check_optional_output(op, "grad_x", grad_x, x_in.shape(), dt);
  check_optional_output(op, "grad_weight", grad_weight, {d}, dt);
  if (d == 0 || (!grad_x.defined() && !grad_weight.defined())) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor gy = dense(grad_y, dt), x = dense(x_in, dt), w = dense(weight, dt);
  const Tensor rs = dense(rstd, stats_dtype(dt));
  const Tensor scratch = grad_weight.defined() ? make_tensor({kernels::rms_norm_backward_scratch(rows, d)},
                                                             DType::Float64, Device(DeviceType::CUDA, dev))
                                               : Tensor();
  TS_CUDA_CHECK(kernels::rms_norm_backward(gy.raw_data(), x.raw_data(), rs.raw_data(), data_or_null(w), rows, d,
                                           mutable_data_or_null(grad_x), mutable_data_or_null(grad_weight),
                                           scratch.defined() ? static_cast<double*>(scratch.raw_data()) : nullptr,
                                           cuda_detail::scalar_type(dt), cuda_detail::current_stream(dev)),
                op);
}

}  // namespace ts
