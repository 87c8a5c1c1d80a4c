// Average pooling on cuDNN (cuda_cudnn.h), forward and backward, where cuDNN's windows are
// exactly ours; descriptors are set on every call.
#include "backend/cuda/cuda_cudnn.h"

#if defined(TESSERA_HAVE_CUDNN)
#include <array>

#include "backend/cuda/cuda_cudnn_support.h"

namespace ts::cuda_detail {
using namespace cudnn_util;  // NOLINT(google-build-using-namespace): this file is a cudnn_util user
namespace {

// Output size of a window sweep without ceil_mode (cuDNN's only rule); -1 when none fits.
int64_t floor_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  return in + 2 * pad < kernel ? -1 : (in + 2 * pad - kernel) / stride + 1;
}

bool set_4d(const TensorDescriptor& d, const Tensor& t, cudnnDataType_t dt) {
  const Shape& s = t.shape();
  return ok(cudnnSetTensor4dDescriptor(d.get(), CUDNN_TENSOR_NCHW, dt, static_cast<int>(s[0]), static_cast<int>(s[1]),
                                       static_cast<int>(s[2]), static_cast<int>(s[3])));
}

}  // namespace

bool cudnn_avg_pool2d(PoolPass pass, const Tensor& x, const Tensor& y, const Pool2dParams& p) {
  if (!cudnn_enabled()) return false;
  const std::optional<cudnnDataType_t> dt = legacy_op_data_type(x.dtype());
  if (!dt || y.dtype() != x.dtype() || x.dim() != 4 || y.dim() != 4 || x.numel() == 0 || !x.is_contiguous() ||
      !y.is_contiguous() || !fits_cudnn(x) || !fits_cudnn(y) || !aligned_for_cudnn(x) || !aligned_for_cudnn(y))
    return false;
  if (p.dilation_h != 1 || p.dilation_w != 1 || !fits_int(p.kernel_h) || !fits_int(p.kernel_w) ||
      !fits_int(p.stride_h) || !fits_int(p.stride_w) || !fits_int(p.pad_h) || !fits_int(p.pad_w))
    return false;
  const Shape &xs = x.shape(), &ys = y.shape();
  if (ys[0] != xs[0] || ys[1] != xs[1] || ys[2] != floor_output_size(xs[2], p.kernel_h, p.stride_h, p.pad_h) ||
      ys[3] != floor_output_size(xs[3], p.kernel_w, p.stride_w, p.pad_w))
    return false;
  // With padding at most half the kernel (the op layer's rule) every window holds an input
  // element, so no divisor is zero; our kernels define the other case (0).
  if (2 * p.pad_h > p.kernel_h || 2 * p.pad_w > p.kernel_w) return false;

  TensorDescriptor xd, yd;
  PoolingDescriptor pd;
  const cudnnPoolingMode_t mode =
      p.count_include_pad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
  const auto i32 = [](int64_t v) { return static_cast<int>(v); };
  if (!set_4d(xd, x, *dt) || !set_4d(yd, y, *dt) ||
      !ok(cudnnSetPooling2dDescriptor(pd.get(), mode, CUDNN_PROPAGATE_NAN, i32(p.kernel_h), i32(p.kernel_w),
                                      i32(p.pad_h), i32(p.pad_w), i32(p.stride_h), i32(p.stride_w))))
    return false;
  std::array<int, 4> out{};
  if (!ok(cudnnGetPooling2dForwardOutputDim(pd.get(), xd.get(), &out[0], &out[1], &out[2], &out[3])) ||
      out[0] != ys[0] || out[1] != ys[1] || out[2] != ys[2] || out[3] != ys[3])
    return false;

  const Scaling scaling(*dt);
  BorrowedHandle handle(x.device().index);
  cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
  if (pass == PoolPass::Forward) {
    st = cudnnPoolingForward(handle.get(), pd.get(), scaling.one(), xd.get(), x.raw_data(), scaling.zero(), yd.get(),
                             y.raw_data());
  } else {
    // An average's gradient depends on neither the forward's input nor its output, which cuDNN
    // still takes: the gradient buffers of the same shapes stand in for them, unread.
    st = cudnnPoolingBackward(handle.get(), pd.get(), scaling.one(), yd.get(), y.raw_data(), yd.get(), y.raw_data(),
                              xd.get(), x.raw_data(), scaling.zero(), xd.get(), x.raw_data());
  }
  if (not_supported(st)) return false;
  TS_CUDNN_CHECK(st, pass == PoolPass::Forward ? "avg_pool2d (cudnnPoolingForward)"
                                               : "avg_pool2d_backward (cudnnPoolingBackward)");
  return true;
}

}  // namespace ts::cuda_detail
#endif
