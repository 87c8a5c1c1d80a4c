// CudaBackend fused attention (kernels/attention.cu): flash-attention tiling, nothing T x S in
// memory. q/k/v (and, in the backward, out and grad_out) are read in place through their
// (batch, head, row) strides, so the permuted views of a fused qkv projection cost no copy;
// only an operand whose last dim is not unit-stride (a broadcast gradient) is made dense.
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/attention.h"

namespace ts {
namespace {

constexpr const char* kForward = "attention";
constexpr const char* kBackward = "attention_backward";

// `t` when its last dim is unit-stride (or has at most one element), else a dense copy on the
// same GPU (stream-ordered, freed after the launch is enqueued).
Tensor unit_last_dim(const Tensor& t) {
  if (t.shape()[3] <= 1 || t.strides()[3] == 1) return t;
  return cuda_detail::contiguous_copy(t, t.dtype());
}

// Strides of size-1 dims are never used; zeroing them keeps the kernels' alignment test (all
// strides multiples of 8 elements) from failing on a meaningless value.
kernels::AttentionOperand operand(const Tensor& t) {
  kernels::AttentionOperand op;
  op.data = t.raw_data();
  op.stride_b = t.shape()[0] > 1 ? t.strides()[0] : 0;
  op.stride_h = t.shape()[1] > 1 ? t.strides()[1] : 0;
  op.stride_t = t.shape()[2] > 1 ? t.strides()[2] : 0;
  return op;
}

// TESSERA_CUDA_ATTENTION_FMA=1 sends f16/bf16 to the CUDA-core kernels instead of the tensor
// cores (read per call so tests can compare both paths).
bool tensor_cores_allowed() {
  const char* env = std::getenv("TESSERA_CUDA_ATTENTION_FMA");
  return env == nullptr || std::strcmp(env, "1") != 0;
}

using cuda_detail::stats_dtype;

kernels::AttentionProblem problem_of(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                                     const AttentionParams& p) {
  TS_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
           "{}: expected q (B, H, T, D), k (B, H, S, D) and v (B, H, S, Dv) but got {}, {} and {}", op,
           shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()));
  TS_CHECK(is_floating_point(q.dtype()) && k.dtype() == q.dtype() && v.dtype() == q.dtype(),
           "{}: q, k and v must share one floating-point dtype but got {}, {} and {}", op, dtype_name(q.dtype()),
           dtype_name(k.dtype()), dtype_name(v.dtype()));
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2), d = q.size(3), s = k.size(2), dv = v.size(3);
  TS_CHECK(k.size(0) == b && k.size(1) == h && k.size(3) == d && v.size(0) == b && v.size(1) == h && v.size(2) == s,
           "{}: shapes do not match: q {} (B, H, T, D), k {} (B, H, S, D), v {} (B, H, S, Dv)", op,
           shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()));
  TS_CHECK(d <= kernels::kAttentionMaxHeadDim && dv <= kernels::kAttentionMaxHeadDim,
           "{}: the CUDA kernels take head dims up to {} but got D={} and Dv={} (q {}, v {})", op,
           kernels::kAttentionMaxHeadDim, d, dv, shape_str(q.shape()), shape_str(v.shape()));
  kernels::AttentionProblem pr;
  pr.dtype = cuda_detail::scalar_type(q.dtype());
  pr.batch = b;
  pr.heads = h;
  pr.t = t;
  pr.s = s;
  pr.d = d;
  pr.dv = dv;
  pr.scale = p.scale;
  pr.causal = p.causal;
  pr.allow_tensor_cores = tensor_cores_allowed();
  return pr;
}

void check_result(const char* op, const char* what, const Tensor& r, const Shape& shape, DType dtype) {
  TS_CHECK(r.shape() == shape && r.dtype() == dtype && r.is_contiguous(),
           "{}: {} must be a contiguous {} tensor of shape {} but got {} {} with strides [{}]", op, what,
           dtype_name(dtype), shape_str(shape), dtype_name(r.dtype()), shape_str(r.shape()),
           fmt::join(r.strides(), ", "));
}

}  // namespace

void CudaBackend::attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const AttentionParams& p,
                            const Tensor& out, const Tensor& lse) {
  const int dev = cuda_detail::common_device(kForward, {&q_in, &k_in, &v_in, &out, &lse});
  const kernels::AttentionProblem pr = problem_of(kForward, q_in, k_in, v_in, p);
  check_result(kForward, "out", out, {pr.batch, pr.heads, pr.t, pr.dv}, q_in.dtype());
  check_result(kForward, "lse", lse, {pr.batch, pr.heads, pr.t}, stats_dtype(q_in.dtype()));
  cuda_detail::DeviceGuard guard(dev);
  const Tensor q = unit_last_dim(q_in), k = unit_last_dim(k_in), v = unit_last_dim(v_in);
  TS_CUDA_CHECK(kernels::attention_forward(pr, operand(q), operand(k), operand(v), out.raw_data(), lse.raw_data(),
                                           cuda_detail::current_stream(dev)),
                kForward);
}

void CudaBackend::attention_backward(const Tensor& grad_out_in, const Tensor& q_in, const Tensor& k_in,
                                     const Tensor& v_in, const Tensor& out_in, const Tensor& lse,
                                     const AttentionParams& p, const Tensor& grad_q, const Tensor& grad_k,
                                     const Tensor& grad_v) {
  const int dev = cuda_detail::common_device(
      kBackward, {&grad_out_in, &q_in, &k_in, &v_in, &out_in, &lse, &grad_q, &grad_k, &grad_v});
  const kernels::AttentionProblem pr = problem_of(kBackward, q_in, k_in, v_in, p);
  const Shape out_shape{pr.batch, pr.heads, pr.t, pr.dv};
  TS_CHECK(out_in.shape() == out_shape && grad_out_in.shape() == out_shape && out_in.dtype() == q_in.dtype() &&
               grad_out_in.dtype() == q_in.dtype(),
           "{}: out and grad_out must be {} {} but got {} {} and {} {}", kBackward, dtype_name(q_in.dtype()),
           shape_str(out_shape), dtype_name(out_in.dtype()), shape_str(out_in.shape()),
           dtype_name(grad_out_in.dtype()), shape_str(grad_out_in.shape()));
  check_result(kBackward, "lse", lse, {pr.batch, pr.heads, pr.t}, stats_dtype(q_in.dtype()));
  check_result(kBackward, "grad_q", grad_q, q_in.shape(), q_in.dtype());
  check_result(kBackward, "grad_k", grad_k, k_in.shape(), q_in.dtype());
  check_result(kBackward, "grad_v", grad_v, v_in.shape(), q_in.dtype());
  cuda_detail::DeviceGuard guard(dev);
  const Tensor q = unit_last_dim(q_in), k = unit_last_dim(k_in), v = unit_last_dim(v_in);
  const Tensor out = unit_last_dim(out_in), grad_out = unit_last_dim(grad_out_in);
  // D_i = dO_i . O_i, one per query row, in the statistics' dtype.
  const Tensor row_dot = make_tensor({pr.batch, pr.heads, pr.t}, lse.dtype(), Device(DeviceType::CUDA, dev));
  TS_CUDA_CHECK(kernels::attention_backward(pr, operand(grad_out), operand(q), operand(k), operand(v), operand(out),
                                            lse.raw_data(), row_dot.raw_data(), grad_q.raw_data(), grad_k.raw_data(),
                                            grad_v.raw_data(), cuda_detail::current_stream(dev)),
                kBackward);
}

}  // namespace ts
