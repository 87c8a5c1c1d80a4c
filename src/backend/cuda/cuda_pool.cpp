// Host side of 2-d pooling on CUDA (kernels/pool.cu). Tensors are seen as (planes, H, W) over
// their last two dims, as on the CPU backend; inputs that arrive strided are made dense first.
// Average pooling runs on cuDNN when the build has it and its windows are exactly ours
// (cuda_cudnn.h; TESSERA_CUDNN=0 forces our kernels). Max pooling always runs our kernels: it
// returns argmax indices, which cuDNN's max pooling does not.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_cudnn.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/pool.h"

namespace ts {
namespace {

// The kernels index dense memory and write contiguous outputs. The op layer already passes
// dense tensors, so dense() copies only for other callers.
using cuda_detail::check_contiguous_output;
using cuda_detail::dense;

void check_float(const char* op, const Tensor& in, const Tensor& out) {
  TS_CHECK(is_floating_point(in.dtype()), "{}: expected a floating-point tensor but got {}", op,
           dtype_name(in.dtype()));
  TS_CHECK(out.dtype() == in.dtype(), "{}: output dtype {} differs from the input's {}", op, dtype_name(out.dtype()),
           dtype_name(in.dtype()));
}

// `in` is the (N, C, H, W) side and `out` the (N, C, Ho, Wo) side, whichever is being written.
kernels::PoolGeometry geometry(const char* op, const Tensor& in, const Tensor& out) {
  TS_CHECK(in.dim() >= 2 && out.dim() == in.dim(), "{}: expected (N, C, H, W) tensors but got shapes {} and {}", op,
           shape_str(in.shape()), shape_str(out.shape()));
  const auto d = static_cast<size_t>(in.dim());
  for (size_t i = 0; i + 2 < d; ++i)
    TS_CHECK(in.shape()[i] == out.shape()[i], "{}: shapes {} and {} differ outside the last two dims", op,
             shape_str(in.shape()), shape_str(out.shape()));
  kernels::PoolGeometry g;
  g.h = in.shape()[d - 2];
  g.w = in.shape()[d - 1];
  g.ho = out.shape()[d - 2];
  g.wo = out.shape()[d - 1];
  g.planes = g.h * g.w == 0 ? 0 : in.numel() / (g.h * g.w);
  return g;
}

kernels::PoolWindow window(const Pool2dParams& p) {
  kernels::PoolWindow w;
  w.kernel_h = p.kernel_h;
  w.kernel_w = p.kernel_w;
  w.stride_h = p.stride_h;
  w.stride_w = p.stride_w;
  w.pad_h = p.pad_h;
  w.pad_w = p.pad_w;
  w.dilation_h = p.dilation_h;
  w.dilation_w = p.dilation_w;
  w.count_include_pad = p.count_include_pad;
  return w;
}

}  // namespace

void CudaBackend::max_pool2d(const Tensor& x_in, const Pool2dParams& p, const Tensor& out, const Tensor& indices) {
  constexpr const char* op = "max_pool2d";
  const int dev = cuda_detail::common_device(op, {&x_in, &out, &indices});
  cuda_detail::DeviceGuard guard(dev);
  check_float(op, x_in, out);
  TS_CHECK(indices.dtype() == DType::Int64 && indices.shape() == out.shape(),
           "{}: indices must be Int64 with the output's shape {}, got {} {}", op, shape_str(out.shape()),
           dtype_name(indices.dtype()), shape_str(indices.shape()));
  check_contiguous_output(op, out);
  check_contiguous_output(op, indices);
  const Tensor x = dense(x_in);
  const kernels::PoolGeometry g = geometry(op, x, out);
  TS_CUDA_CHECK(kernels::max_pool2d_forward(x.raw_data(), out.raw_data(), static_cast<int64_t*>(indices.raw_data()), g,
                                            window(p), cuda_detail::scalar_type(x.dtype()),
                                            cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::max_pool2d_backward(const Tensor& gy_in, const Tensor& indices_in, const Pool2dParams& p,
                                      const Tensor& grad_in) {
  constexpr const char* op = "max_pool2d_backward";
  const int dev = cuda_detail::common_device(op, {&gy_in, &indices_in, &grad_in});
  cuda_detail::DeviceGuard guard(dev);
  check_float(op, gy_in, grad_in);
  TS_CHECK(indices_in.dtype() == DType::Int64 && indices_in.shape() == gy_in.shape(),
           "{}: indices must be Int64 with grad_out's shape {}, got {} {}", op, shape_str(gy_in.shape()),
           dtype_name(indices_in.dtype()), shape_str(indices_in.shape()));
  check_contiguous_output(op, grad_in);
  const Tensor gy = dense(gy_in), indices = dense(indices_in);
  TS_CUDA_CHECK(kernels::max_pool2d_backward(gy.raw_data(), static_cast<const int64_t*>(indices.raw_data()),
                                             grad_in.raw_data(), geometry(op, grad_in, gy), window(p),
                                             cuda_detail::scalar_type(grad_in.dtype()),
                                             cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::avg_pool2d(const Tensor& x_in, const Pool2dParams& p, const Tensor& out) {
  constexpr const char* op = "avg_pool2d";
  const int dev = cuda_detail::common_device(op, {&x_in, &out});
  cuda_detail::DeviceGuard guard(dev);
  check_float(op, x_in, out);
  check_contiguous_output(op, out);
  const Tensor x = dense(x_in);
  const kernels::PoolGeometry g = geometry(op, x, out);
  if (cuda_detail::cudnn_avg_pool2d(cuda_detail::PoolPass::Forward, x, out, p)) return;
  TS_CUDA_CHECK(kernels::avg_pool2d_forward(x.raw_data(), out.raw_data(), g, window(p),
                                            cuda_detail::scalar_type(x.dtype()), cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::avg_pool2d_backward(const Tensor& gy_in, const Pool2dParams& p, const Tensor& grad_in) {
  constexpr const char* op = "avg_pool2d_backward";
  const int dev = cuda_detail::common_device(op, {&gy_in, &grad_in});
  cuda_detail::DeviceGuard guard(dev);
  check_float(op, gy_in, grad_in);
  check_contiguous_output(op, grad_in);
  const Tensor gy = dense(gy_in);
  const kernels::PoolGeometry g = geometry(op, grad_in, gy);
  if (cuda_detail::cudnn_avg_pool2d(cuda_detail::PoolPass::Backward, grad_in, gy, p)) return;
  TS_CUDA_CHECK(kernels::avg_pool2d_backward(gy.raw_data(), grad_in.raw_data(), g, window(p),
                                             cuda_detail::scalar_type(gy.dtype()), cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::adaptive_avg_pool2d(const Tensor& x_in, const Tensor& out) {
  constexpr const char* op = "adaptive_avg_pool2d";
  const int dev = cuda_detail::common_device(op, {&x_in, &out});
  cuda_detail::DeviceGuard guard(dev);
  check_float(op, x_in, out);
  check_contiguous_output(op, out);
  const Tensor x = dense(x_in);
  TS_CUDA_CHECK(kernels::adaptive_avg_pool2d_forward(x.raw_data(), out.raw_data(), geometry(op, x, out),
                                                     cuda_detail::scalar_type(x.dtype()),
                                                     cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::adaptive_avg_pool2d_backward(const Tensor& gy_in, const Tensor& grad_in) {
  constexpr const char* op = "adaptive_avg_pool2d_backward";
  const int dev = cuda_detail::common_device(op, {&gy_in, &grad_in});
  cuda_detail::DeviceGuard guard(dev);
  check_float(op, gy_in, grad_in);
  check_contiguous_output(op, grad_in);
  const Tensor gy = dense(gy_in);
  TS_CUDA_CHECK(kernels::adaptive_avg_pool2d_backward(gy.raw_data(), grad_in.raw_data(), geometry(op, grad_in, gy),
                                                      cuda_detail::scalar_type(gy.dtype()),
                                                      cuda_detail::current_stream(dev)),
                op);
}

}  // namespace ts
