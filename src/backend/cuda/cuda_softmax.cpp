// CudaBackend softmax / log_softmax and their backward (kernels/softmax.cu): the contiguous
// operands viewed as (outer, n, inner) around the softmax dim, as the CPU backend does.
#include <initializer_list>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/softmax.h"

namespace ts {
namespace {

using cuda_detail::check_contiguous_output;
using cuda_detail::dense;

const char* op_name(bool log, bool backward) {
  if (backward) return log ? "log_softmax_backward" : "softmax_backward";
  return log ? "log_softmax" : "softmax";
}

kernels::SoftmaxShape softmax_shape(const char* op, const Tensor& t, int64_t dim) {
  kernels::SoftmaxShape s;
  if (t.dim() == 0) {  // a 0-d tensor is a 1-element vector (dim 0 or -1), as in the op layer
    TS_CHECK(dim == 0, "{}: dim {} is out of range for a 0-d tensor", op, dim);
    return s;
  }
  TS_CHECK(dim >= 0 && dim < t.dim(), "{}: dim {} is out of range for shape {}", op, dim, shape_str(t.shape()));
  const auto d = static_cast<size_t>(dim);
  for (size_t i = 0; i < d; ++i) s.outer *= t.shape()[i];
  s.n = t.shape()[d];
  for (size_t i = d + 1; i < t.shape().size(); ++i) s.inner *= t.shape()[i];
  return s;
}

void check_operands(const char* op, const Tensor& ref, std::initializer_list<const Tensor*> others) {
  TS_CHECK(is_floating_point(ref.dtype()), "{}: expected a floating-point tensor but got {} (shape {})", op,
           dtype_name(ref.dtype()), shape_str(ref.shape()));
  for (const Tensor* t : others) {
    TS_CHECK(t->dtype() == ref.dtype() && t->shape() == ref.shape(),
             "{}: operands must share shape and dtype, got {} {} and {} {}", op, dtype_name(ref.dtype()),
             shape_str(ref.shape()), dtype_name(t->dtype()), shape_str(t->shape()));
  }
}

}  // namespace

void CudaBackend::softmax(const Tensor& x_in, int64_t dim, bool log, const Tensor& out) {
  const char* op = op_name(log, false);
  const int dev = cuda_detail::common_device(op, {&x_in, &out});
  check_operands(op, x_in, {&out});
  check_contiguous_output(op, out);
  const kernels::SoftmaxShape shape = softmax_shape(op, x_in, dim);
  if (out.numel() == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor x = dense(x_in);
  TS_CUDA_CHECK(kernels::softmax_forward(x.raw_data(), out.raw_data(), shape, log, cuda_detail::scalar_type(x.dtype()),
                                         cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::softmax_backward(const Tensor& grad_out_in, const Tensor& y_in, int64_t dim, bool log,
                                   const Tensor& grad_in) {
  const char* op = op_name(log, true);
  const int dev = cuda_detail::common_device(op, {&grad_out_in, &y_in, &grad_in});
  check_operands(op, y_in, {&grad_out_in, &grad_in});
  check_contiguous_output(op, grad_in);
  const kernels::SoftmaxShape shape = softmax_shape(op, y_in, dim);
  if (grad_in.numel() == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  const Tensor g = dense(grad_out_in), y = dense(y_in);
  TS_CUDA_CHECK(kernels::softmax_backward(g.raw_data(), y.raw_data(), grad_in.raw_data(), shape, log,
                                          cuda_detail::scalar_type(y.dtype()), cuda_detail::current_stream(dev)),
                op);
}

}  // namespace ts
