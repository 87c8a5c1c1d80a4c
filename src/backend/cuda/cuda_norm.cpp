// CudaBackend layer_norm / batch_norm and their backward (kernels/norm.cu): argument checks,
// dense operands, scratch for the deterministic partial sums, and the launches. Batch norm in
// training mode runs on cuDNN when the build has it and the problem is exactly ours
// (cuda_cudnn.h); our kernels cover everything else, and TESSERA_CUDNN=0 forces them.
#include <initializer_list>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_cudnn.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/norm.h"

namespace ts {
namespace {

// mean / rstd / save_mean / save_invstd have stats_dtype(x), as the op layer allocates them.
using cuda_detail::stats_dtype;
// Operands as contiguous tensors of the dtype the kernels take (undefined stays undefined).
using cuda_detail::dense;

using cuda_detail::data_or_null;
using cuda_detail::mutable_data_or_null;
using cuda_detail::check_optional_float_input;
using cuda_detail::check_optional_output;
using cuda_detail::check_float_row_matrix;

Tensor double_scratch(int64_t n, int dev) {
  return n > 0 ? make_tensor({n}, DType::Float64, Device(DeviceType::CUDA, dev)) : Tensor();
}
double* scratch_ptr(const Tensor& t) { return t.defined() ? static_cast<double*>(t.raw_data()) : nullptr; }

void check_float(const char* op, const Tensor& x) {
  TS_CHECK(is_floating_point(x.dtype()), "{}: expected a floating-point input but got {} (shape {})", op,
           dtype_name(x.dtype()), shape_str(x.shape()));
}

kernels::BatchNormShape bn_shape(const char* op, const Tensor& x) {
  check_float(op, x);
  TS_CHECK(x.dim() >= 2, "{}: expected an input of shape (N, C, *) but got shape {}", op, shape_str(x.shape()));
  kernels::BatchNormShape s;
  s.n = x.shape()[0];
  s.c = x.shape()[1];
  s.s = 1;
  for (size_t d = 2; d < x.shape().size(); ++d) s.s *= x.shape()[d];
  return s;
}

kernels::ChannelParam channel_param(const char* op, const char* what, const Tensor& t, int64_t channels) {
  kernels::ChannelParam p;
  if (!t.defined()) return p;
  TS_CHECK(t.dim() == 1 && t.shape()[0] == channels && is_floating_point(t.dtype()),
           "{}: {} must be a floating-point vector of {} elements but is {} of shape {}", op, what, channels,
           dtype_name(t.dtype()), shape_str(t.shape()));
  p.data = t.raw_data();
  p.type = cuda_detail::scalar_type(t.dtype());
  p.stride = t.strides()[0];
  return p;
}

}  // namespace

void CudaBackend::layer_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                             const Tensor& mean, const Tensor& rstd) {
  constexpr const char* op = "layer_norm";
  const int dev = cuda_detail::common_device(op, {&x_in, &weight, &bias, &y, &mean, &rstd});
  check_float_row_matrix(op, x_in);
  const int64_t rows = x_in.shape()[0], d = x_in.shape()[1];
  const DType dt = x_in.dtype();
  check_optional_float_input(op, "weight", weight, {d});
  check_optional_float_input(op, "bias", bias, {d});
  TS_CHECK(y.defined(), "{}: the output y is required", op);
  check_optional_output(op, "y", y, x_in.shape(), dt);
  TS_CHECK(mean.defined() && rstd.defined(), "{}: mean and rstd outputs are required", op);
  check_optional_output(op, "mean", mean, {rows}, stats_dtype(dt));
  check_optional_output(op, "rstd", rstd, {rows}, stats_dtype(dt));
  if (rows == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor x = dense(x_in, dt), w = dense(weight, dt), b = dense(bias, dt);
  TS_CUDA_CHECK(kernels::layer_norm_forward(x.raw_data(), data_or_null(w), data_or_null(b), eps, rows, d, y.raw_data(),
                                            mean.raw_data(), rstd.raw_data(), cuda_detail::scalar_type(dt),
                                            cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::layer_norm_backward(const Tensor& grad_y, const Tensor& x_in, const Tensor& mean, const Tensor& rstd,
                                      const Tensor& weight, const Tensor& grad_x, const Tensor& grad_weight,
                                      const Tensor& grad_bias) {
  constexpr const char* op = "layer_norm_backward";
  const int dev = cuda_detail::common_device(op, {&grad_y, &x_in, &mean, &rstd, &weight, &grad_x, &grad_weight,
                                                  &grad_bias});
  check_float_row_matrix(op, x_in);
  const int64_t rows = x_in.shape()[0], d = x_in.shape()[1];
  const DType dt = x_in.dtype();
  check_optional_float_input(op, "grad_y", grad_y, x_in.shape());
  check_optional_float_input(op, "weight", weight, {d});
  TS_CHECK(mean.defined() && rstd.defined(), "{}: mean and rstd are required", op);
  check_optional_float_input(op, "mean", mean, {rows});
  check_optional_float_input(op, "rstd", rstd, {rows});
  check_optional_output(op, "grad_x", grad_x, x_in.shape(), dt);
  check_optional_output(op, "grad_weight", grad_weight, {d}, dt);
  check_optional_output(op, "grad_bias", grad_bias, {d}, dt);
  if (d == 0 || (!grad_x.defined() && !grad_weight.defined() && !grad_bias.defined())) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor gy = dense(grad_y, dt), x = dense(x_in, dt), w = dense(weight, dt);
  const Tensor m = dense(mean, stats_dtype(dt)), rs = dense(rstd, stats_dtype(dt));
  const bool params = grad_weight.defined() || grad_bias.defined();
  const Tensor scratch = double_scratch(params ? kernels::layer_norm_backward_scratch(rows, d) : 0, dev);
  TS_CUDA_CHECK(kernels::layer_norm_backward(gy.raw_data(), x.raw_data(), m.raw_data(), rs.raw_data(), data_or_null(w),
                                             rows, d, mutable_data_or_null(grad_x), mutable_data_or_null(grad_weight),
                                             mutable_data_or_null(grad_bias), scratch_ptr(scratch),
                                             cuda_detail::scalar_type(dt), cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::batch_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                             const Tensor& save_mean, const Tensor& save_invstd) {
  constexpr const char* op = "batch_norm";
  const int dev = cuda_detail::common_device(
      op, {&x_in, &weight, &bias, &running_mean, &running_var, &y, &save_mean, &save_invstd});
  const kernels::BatchNormShape shape = bn_shape(op, x_in);
  const DType dt = x_in.dtype();
  check_optional_float_input(op, "weight", weight, {shape.c});
  check_optional_float_input(op, "bias", bias, {shape.c});
  const kernels::ChannelParam rm = channel_param(op, "running_mean", running_mean, shape.c);
  const kernels::ChannelParam rv = channel_param(op, "running_var", running_var, shape.c);
  TS_CHECK(training || (rm.data && rv.data), "{}: running_mean and running_var are required in eval mode", op);
  TS_CHECK(!training || shape.n * shape.s > 1,
           "{}: expected more than 1 value per channel when training, got input of shape {}", op,
           shape_str(x_in.shape()));
  TS_CHECK(y.defined(), "{}: the output y is required", op);
  check_optional_output(op, "y", y, x_in.shape(), dt);
  TS_CHECK(save_mean.defined() && save_invstd.defined(), "{}: save_mean and save_invstd outputs are required", op);
  check_optional_output(op, "save_mean", save_mean, {shape.c}, stats_dtype(dt));
  check_optional_output(op, "save_invstd", save_invstd, {shape.c}, stats_dtype(dt));
  if (shape.c == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor x = dense(x_in, dt), w = dense(weight, dt), b = dense(bias, dt);
  // Eval mode stays on our kernels: cuDNN's inference pass does not produce save_mean /
  // save_invstd, which the backward reads, and without batch statistics our forward is one
  // elementwise pass anyway.
  if (training && cuda_detail::cudnn_batch_norm_training(x, w, b, running_mean, running_var, momentum, eps, y,
                                                         save_mean, save_invstd))
    return;
  const Tensor scratch = double_scratch(kernels::batch_norm_scratch(shape), dev);
  TS_CUDA_CHECK(
      kernels::batch_norm_forward(x.raw_data(), data_or_null(w), data_or_null(b), rm, rv, training, momentum, eps,
                                  shape, y.raw_data(), save_mean.raw_data(), save_invstd.raw_data(),
                                  scratch_ptr(scratch), cuda_detail::scalar_type(dt), cuda_detail::current_stream(dev)),
      op);
}

void CudaBackend::batch_norm_backward(const Tensor& grad_y, const Tensor& x_in, const Tensor& weight,
                                      const Tensor& save_mean, const Tensor& save_invstd, bool training,
                                      const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias) {
  constexpr const char* op = "batch_norm_backward";
  const int dev = cuda_detail::common_device(
      op, {&grad_y, &x_in, &weight, &save_mean, &save_invstd, &grad_x, &grad_weight, &grad_bias});
  const kernels::BatchNormShape shape = bn_shape(op, x_in);
  const DType dt = x_in.dtype();
  check_optional_float_input(op, "grad_y", grad_y, x_in.shape());
  check_optional_float_input(op, "weight", weight, {shape.c});
  TS_CHECK(save_mean.defined() && save_invstd.defined(), "{}: save_mean and save_invstd are required", op);
  check_optional_float_input(op, "save_mean", save_mean, {shape.c});
  check_optional_float_input(op, "save_invstd", save_invstd, {shape.c});
  check_optional_output(op, "grad_x", grad_x, x_in.shape(), dt);
  check_optional_output(op, "grad_weight", grad_weight, {shape.c}, dt);
  check_optional_output(op, "grad_bias", grad_bias, {shape.c}, dt);
  if (shape.c == 0 || (!grad_x.defined() && !grad_weight.defined() && !grad_bias.defined())) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor gy = dense(grad_y, dt), x = dense(x_in, dt), w = dense(weight, dt);
  const Tensor m = dense(save_mean, stats_dtype(dt)), is = dense(save_invstd, stats_dtype(dt));
  // Eval mode's gradient (running statistics, no batch terms) is not one cuDNN computes.
  if (training && cuda_detail::cudnn_batch_norm_backward(gy, x, w, m, is, grad_x, grad_weight, grad_bias)) return;
  const Tensor scratch = double_scratch(kernels::batch_norm_scratch(shape), dev);
  TS_CUDA_CHECK(kernels::batch_norm_backward(
                    gy.raw_data(), x.raw_data(), data_or_null(w), m.raw_data(), is.raw_data(), training, shape,
                    mutable_data_or_null(grad_x), mutable_data_or_null(grad_weight), mutable_data_or_null(grad_bias),
                    scratch_ptr(scratch), cuda_detail::scalar_type(dt), cuda_detail::current_stream(dev)),
                op);
}

}  // namespace ts
