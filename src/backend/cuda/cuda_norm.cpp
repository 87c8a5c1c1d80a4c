// CudaBackend layer_norm / batch_norm and their backward (kernels/norm.cu): argument checks,
// dense operands, scratch for the deterministic partial sums, and the launches.
#include <initializer_list>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/norm.h"

namespace ts {
namespace {

// mean / rstd / save_mean / save_invstd have stats_dtype(x), as the op layer allocates them.
using cuda_detail::stats_dtype;
// Operands as contiguous tensors of the dtype the kernels take (undefined stays undefined).
using cuda_detail::dense;

const void* cptr(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
void* mptr(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

Tensor double_scratch(int64_t n, int dev) {
  return n > 0 ? make_tensor({n}, DType::Float64, Device(DeviceType::CUDA, dev)) : Tensor();
}
double* scratch_ptr(const Tensor& t) { return t.defined() ? static_cast<double*>(t.raw_data()) : nullptr; }

void check_float(const char* op, const Tensor& x) {
  TS_CHECK(is_floating_point(x.dtype()), "{}: expected a floating-point input but got {} (shape {})", op,
           dtype_name(x.dtype()), shape_str(x.shape()));
}

// An output (defined or not) must be contiguous with the given shape and dtype.
void check_out(const char* op, const char* what, const Tensor& t, const Shape& shape, DType dtype) {
  if (!t.defined()) return;
  TS_CHECK(t.shape() == shape && t.dtype() == dtype && t.is_contiguous(),
           "{}: {} must be a contiguous {} tensor of shape {} but is {} of shape {}{}", op, what, dtype_name(dtype),
           shape_str(shape), dtype_name(t.dtype()), shape_str(t.shape()), t.is_contiguous() ? "" : " (strided)");
}

// An input that must have `shape` (any dtype and strides: it is converted).
void check_in(const char* op, const char* what, const Tensor& t, const Shape& shape) {
  if (!t.defined()) return;
  TS_CHECK(t.shape() == shape, "{}: {} must have shape {} but has shape {}", op, what, shape_str(shape),
           shape_str(t.shape()));
  TS_CHECK(is_floating_point(t.dtype()), "{}: {} must be floating-point but is {}", op, what, dtype_name(t.dtype()));
}

void check_layer_norm_input(const char* op, const Tensor& x) {
  check_float(op, x);
  TS_CHECK(x.dim() == 2, "{}: expected x as a (rows, normalized_size) matrix but got shape {}", op,
           shape_str(x.shape()));
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
  check_layer_norm_input(op, x_in);
  const int64_t rows = x_in.shape()[0], d = x_in.shape()[1];
  const DType dt = x_in.dtype();
  check_in(op, "weight", weight, {d});
  check_in(op, "bias", bias, {d});
  check_out(op, "y", y, x_in.shape(), dt);
  TS_CHECK(mean.defined() && rstd.defined(), "{}: mean and rstd outputs are required", op);
  check_out(op, "mean", mean, {rows}, stats_dtype(dt));
  check_out(op, "rstd", rstd, {rows}, stats_dtype(dt));
  if (rows == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor x = dense(x_in, dt), w = dense(weight, dt), b = dense(bias, dt);
  TS_CUDA_CHECK(kernels::layer_norm_forward(x.raw_data(), cptr(w), cptr(b), eps, rows, d, y.raw_data(),
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
  check_layer_norm_input(op, x_in);
  const int64_t rows = x_in.shape()[0], d = x_in.shape()[1];
  const DType dt = x_in.dtype();
  check_in(op, "grad_y", grad_y, x_in.shape());
  check_in(op, "weight", weight, {d});
  TS_CHECK(mean.defined() && rstd.defined(), "{}: mean and rstd are required", op);
  check_in(op, "mean", mean, {rows});
  check_in(op, "rstd", rstd, {rows});
  check_out(op, "grad_x", grad_x, x_in.shape(), dt);
  check_out(op, "grad_weight", grad_weight, {d}, dt);
  check_out(op, "grad_bias", grad_bias, {d}, dt);
  if (d == 0 || (!grad_x.defined() && !grad_weight.defined() && !grad_bias.defined())) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor gy = dense(grad_y, dt), x = dense(x_in, dt), w = dense(weight, dt);
  const Tensor m = dense(mean, stats_dtype(dt)), rs = dense(rstd, stats_dtype(dt));
  const bool params = grad_weight.defined() || grad_bias.defined();
  const Tensor scratch = double_scratch(params ? kernels::layer_norm_backward_scratch(rows, d) : 0, dev);
  TS_CUDA_CHECK(kernels::layer_norm_backward(gy.raw_data(), x.raw_data(), m.raw_data(), rs.raw_data(), cptr(w), rows,
                                             d, mptr(grad_x), mptr(grad_weight), mptr(grad_bias),
                                             scratch_ptr(scratch), cuda_detail::scalar_type(dt),
                                             cuda_detail::current_stream(dev)),
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
  check_in(op, "weight", weight, {shape.c});
  check_in(op, "bias", bias, {shape.c});
  const kernels::ChannelParam rm = channel_param(op, "running_mean", running_mean, shape.c);
  const kernels::ChannelParam rv = channel_param(op, "running_var", running_var, shape.c);
  TS_CHECK(training || (rm.data && rv.data), "{}: running_mean and running_var are required in eval mode", op);
  TS_CHECK(!training || shape.n * shape.s > 1,
           "{}: expected more than 1 value per channel when training, got input of shape {}", op,
           shape_str(x_in.shape()));
  check_out(op, "y", y, x_in.shape(), dt);
  TS_CHECK(save_mean.defined() && save_invstd.defined(), "{}: save_mean and save_invstd outputs are required", op);
  check_out(op, "save_mean", save_mean, {shape.c}, stats_dtype(dt));
  check_out(op, "save_invstd", save_invstd, {shape.c}, stats_dtype(dt));
  if (shape.c == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor x = dense(x_in, dt), w = dense(weight, dt), b = dense(bias, dt);
  const Tensor scratch = double_scratch(kernels::batch_norm_scratch(shape), dev);
  TS_CUDA_CHECK(kernels::batch_norm_forward(x.raw_data(), cptr(w), cptr(b), rm, rv, training, momentum, eps, shape,
                                            y.raw_data(), save_mean.raw_data(), save_invstd.raw_data(),
                                            scratch_ptr(scratch), cuda_detail::scalar_type(dt),
                                            cuda_detail::current_stream(dev)),
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
  check_in(op, "grad_y", grad_y, x_in.shape());
  check_in(op, "weight", weight, {shape.c});
  TS_CHECK(save_mean.defined() && save_invstd.defined(), "{}: save_mean and save_invstd are required", op);
  check_in(op, "save_mean", save_mean, {shape.c});
  check_in(op, "save_invstd", save_invstd, {shape.c});
  check_out(op, "grad_x", grad_x, x_in.shape(), dt);
  check_out(op, "grad_weight", grad_weight, {shape.c}, dt);
  check_out(op, "grad_bias", grad_bias, {shape.c}, dt);
  if (shape.c == 0 || (!grad_x.defined() && !grad_weight.defined() && !grad_bias.defined())) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor gy = dense(grad_y, dt), x = dense(x_in, dt), w = dense(weight, dt);
  const Tensor m = dense(save_mean, stats_dtype(dt)), is = dense(save_invstd, stats_dtype(dt));
  const Tensor scratch = double_scratch(kernels::batch_norm_scratch(shape), dev);
  TS_CUDA_CHECK(kernels::batch_norm_backward(gy.raw_data(), x.raw_data(), cptr(w), m.raw_data(), is.raw_data(),
                                             training, shape, mptr(grad_x), mptr(grad_weight), mptr(grad_bias),
                                             scratch_ptr(scratch), cuda_detail::scalar_type(dt),
                                             cuda_detail::current_stream(dev)),
                op);
}

}  // namespace ts
