// conv2d on CUDA: cuDNN when the build has it (cuda_cudnn_conv.cpp), else - and for problems cuDNN
// rejects, or with TESSERA_CUDNN=0 - our im2col kernels (kernels/im2col.cu) and one strided
// batched cuBLAS GEMM per block of images covering every group, as src/backend/cpu/cpu_conv.cpp
// does on the CPU. The bias and its gradient are our kernels on both paths.
//
// The im2col path walks the batch in blocks of images whose scratch (column matrix, GEMM
// outputs) fits kScratchBudget. GEMM outputs are float32 for 16-bit types, so those are rounded
// once, from the float32 result, as on the CPU backend.
#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_cudnn.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/im2col.h"

namespace ts {
namespace {

constexpr int64_t kScratchBudget = int64_t{256} << 20;

using cuda_detail::dense;

// The type GEMMs write: float32 for 16-bit inputs.
DType acc_dtype(DType dt) { return cuda_detail::is_half(dt) ? DType::Float32 : dt; }

cudaDataType_t cuda_type(DType dt) { return cuda_detail::cuda_data_type("conv2d", dt); }

const void* at(const void* base, int64_t elements, DType dt) {
  return static_cast<const char*>(base) + elements * static_cast<int64_t>(element_size(dt));
}

// Row-major strided batched GEMM: C[i] (m x n) = op(A[i]) (m x k) @ op(B[i]) (k x n), where a
// transposed operand is stored as the row-major transpose. Run as cuBLAS's column-major
// C^T = op(B)^T op(A)^T (see cuda_matmul.cpp). A and B have dtype `dt`; C has acc_dtype(dt).
struct RowMajorGemm {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0, batch = 1;
  const void* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  const void* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  void* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  bool accumulate = false;  // C += instead of C =
};

void run_gemm(int dev, DType dt, const RowMajorGemm& g) {
  const cudaDataType_t in = cuda_type(dt), out = cuda_type(acc_dtype(dt));
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const double alpha_d = 1.0, beta_d = g.accumulate ? 1.0 : 0.0;
  const float alpha_f = 1.0f, beta_f = g.accumulate ? 1.0f : 0.0f;
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  if (dt == DType::Float64) compute = CUBLAS_COMPUTE_64F;
  if (dt == DType::Float32 && cuda_detail::allow_tf32()) compute = CUBLAS_COMPUTE_32F_FAST_TF32;
  const bool dbl = dt == DType::Float64;
  TS_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(cuda_detail::cublas_handle(dev), op_b, op_a, g.n, g.m, g.k,
                                                dbl ? static_cast<const void*>(&alpha_d) : &alpha_f, g.b, in, g.ldb,
                                                g.stride_b, g.a, in, g.lda, g.stride_a,
                                                dbl ? static_cast<const void*>(&beta_d) : &beta_f, g.c, out, g.ldc,
                                                g.stride_c, g.batch, compute, CUBLAS_GEMM_DEFAULT),
                  "conv2d (cublasGemmStridedBatchedEx)");
}

kernels::ConvGeometry geometry(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p) {
  kernels::ConvGeometry g;
  g.n = x.shape()[0];
  g.c = x.shape()[1];
  g.h = x.shape()[2];
  g.w = x.shape()[3];
  g.o = w.shape()[0];
  g.kh = w.shape()[2];
  g.kw = w.shape()[3];
  g.ho = y.shape()[2];
  g.wo = y.shape()[3];
  g.stride_h = p.stride_h;
  g.stride_w = p.stride_w;
  g.pad_h = p.pad_h;
  g.pad_w = p.pad_w;
  g.dilation_h = p.dilation_h;
  g.dilation_w = p.dilation_w;
  g.groups = p.groups;
  return g;
}

// Checks what the op layer guarantees (src/ops/conv.cpp), so a direct backend call with
// inconsistent tensors raises instead of reading out of bounds.
void check_conv(const char* op, const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p) {
  TS_CHECK(x.dim() == 4 && w.dim() == 4 && y.dim() == 4,
           "{}: expected x (N, C, H, W), weight (O, C/groups, kH, kW) and output (N, O, Ho, Wo) but got shapes {}, "
           "{} and {}",
           op, shape_str(x.shape()), shape_str(w.shape()), shape_str(y.shape()));
  TS_CHECK(is_floating_point(x.dtype()) && w.dtype() == x.dtype() && y.dtype() == x.dtype(),
           "{}: expected floating-point tensors of one dtype but got {}, {} and {}", op, dtype_name(x.dtype()),
           dtype_name(w.dtype()), dtype_name(y.dtype()));
  TS_CHECK(p.groups > 0 && p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0 &&
               p.pad_h >= 0 && p.pad_w >= 0,
           "{}: invalid params (stride ({}, {}), padding ({}, {}), dilation ({}, {}), groups {})", op, p.stride_h,
           p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups);
  const Shape &xs = x.shape(), &ws = w.shape(), &ys = y.shape();
  const int64_t ho = (xs[2] + 2 * p.pad_h - p.dilation_h * (ws[2] - 1) - 1) / p.stride_h + 1;
  const int64_t wo = (xs[3] + 2 * p.pad_w - p.dilation_w * (ws[3] - 1) - 1) / p.stride_w + 1;
  TS_CHECK(ws[0] % p.groups == 0 && xs[1] == ws[1] * p.groups && ys[0] == xs[0] && ys[1] == ws[0] && ys[2] == ho &&
               ys[3] == wo && w.numel() > 0,
           "{}: input {}, weight {} and output {} do not match a convolution with groups={} (expected output ({}, "
           "{}, {}, {}))",
           op, shape_str(xs), shape_str(ws), shape_str(ys), p.groups, xs[0], ws[0], ho, wo);
}

// Images per block: as many as fit the scratch budget, at least one.
int64_t block_images(const kernels::ConvGeometry& g, DType dt) {
  const auto esize = static_cast<int64_t>(element_size(dt)), asize = static_cast<int64_t>(element_size(acc_dtype(dt)));
  const int64_t ktot = g.c * g.kh * g.kw;
  const int64_t per_image = std::max<int64_t>(1, g.ho * g.wo * ((ktot + g.o) * esize + (ktot + g.o) * asize));
  return std::clamp<int64_t>(kScratchBudget / per_image, 1, std::max<int64_t>(g.n, 1));
}

bool pointwise(const kernels::ConvGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

struct Launch {
  int dev;
  cudaStream_t stream;
  kernels::ScalarType st;
};

// Block [n0, n0 + nb)'s column matrix: image n0 itself for a single pointwise image, else im2col
// into `col`.
const void* columns(const Launch& l, const kernels::ConvGeometry& g, const Tensor& x, const Tensor& col, int64_t n0,
                    int64_t nb) {
  if (pointwise(g) && nb == 1) return at(x.raw_data(), n0 * g.c * g.h * g.w, x.dtype());
  TS_CUDA_CHECK(kernels::im2col(x.raw_data(), col.raw_data(), g, n0, nb, l.st, l.stream), "conv2d (im2col)");
  return col.raw_data();
}

void im2col_forward(const Launch& l, const kernels::ConvGeometry& g, const Tensor& x, const Tensor& w,
                    const Tensor& y) {
  const DType dt = x.dtype();
  const Device dev = x.device();
  const int64_t howo = g.ho * g.wo, og = g.o / g.groups, k = g.c / g.groups * g.kh * g.kw;
  const int64_t nb_max = block_images(g, dt);
  const bool need_col = !(pointwise(g) && nb_max == 1);
  const Tensor col = need_col ? make_tensor({g.c * g.kh * g.kw * nb_max * howo}, dt, dev) : Tensor();
  const Tensor out = make_tensor({g.o * nb_max * howo}, acc_dtype(dt), dev);
  for (int64_t n0 = 0; n0 < g.n; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.n - n0), len = nb * howo;
    RowMajorGemm gm;  // out_g (og, len) = w_g (og, k) @ col_g (k, len), every group in one call
    gm.m = og;
    gm.n = len;
    gm.k = k;
    gm.batch = g.groups;
    gm.a = w.raw_data();
    gm.lda = k;
    gm.stride_a = og * k;
    gm.b = columns(l, g, x, col, n0, nb);
    gm.ldb = len;
    gm.stride_b = k * len;
    gm.c = out.raw_data();
    gm.ldc = len;
    gm.stride_c = og * len;
    run_gemm(l.dev, dt, gm);
    TS_CUDA_CHECK(kernels::cols_to_output(out.raw_data(), y.raw_data(), g, n0, nb, l.st, l.stream),
                  "conv2d (cols_to_output)");
  }
}

// Input and/or weight gradients (either may be undefined) on the im2col path.
void im2col_backward(const Launch& l, const kernels::ConvGeometry& g, const Tensor& gy, const Tensor& x,
                     const Tensor& w, const Tensor& gx, const Tensor& gw) {
  const DType dt = x.dtype(), acc = acc_dtype(dt);
  const Device dev = x.device();
  const int64_t howo = g.ho * g.wo, og = g.o / g.groups, k = g.c / g.groups * g.kh * g.kw, ktot = g.c * g.kh * g.kw;
  const int64_t nb_max = block_images(g, dt);
  const bool need_col = gw.defined() && !(pointwise(g) && nb_max == 1);
  const Tensor col = need_col ? make_tensor({ktot * nb_max * howo}, dt, dev) : Tensor();
  const Tensor gcol = gx.defined() ? make_tensor({ktot * nb_max * howo}, acc, dev) : Tensor();
  const Tensor gy_cols = nb_max > 1 ? make_tensor({g.o * nb_max * howo}, dt, dev) : Tensor();
  // 16-bit weight gradients are summed over blocks in float32 and rounded once at the end.
  const Tensor gw_acc = gw.defined() && acc != dt ? make_tensor(gw.shape(), acc, dev) : gw;
  for (int64_t n0 = 0; n0 < g.n; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.n - n0), len = nb * howo;
    // The block's output gradient as one (O, len) matrix: a single image already is one.
    const void* gyc = at(gy.raw_data(), n0 * g.o * howo, dt);
    if (nb > 1) {
      TS_CUDA_CHECK(kernels::output_to_cols(gy.raw_data(), gy_cols.raw_data(), g, n0, nb, l.st, l.stream),
                    "conv2d_backward (output_to_cols)");
      gyc = gy_cols.raw_data();
    }
    if (gw.defined()) {
      RowMajorGemm gm;  // gw_g (og, k) (+)= gy_g (og, len) @ col_g^T (len, k)
      gm.trans_b = true;
      gm.m = og;
      gm.n = k;
      gm.k = len;
      gm.batch = g.groups;
      gm.a = gyc;
      gm.lda = len;
      gm.stride_a = og * len;
      gm.b = columns(l, g, x, col, n0, nb);
      gm.ldb = len;
      gm.stride_b = k * len;
      gm.c = gw_acc.raw_data();
      gm.ldc = k;
      gm.stride_c = og * k;
      gm.accumulate = n0 > 0;
      run_gemm(l.dev, dt, gm);
    }
    if (gx.defined()) {
      RowMajorGemm gm;  // gcol_g (k, len) = w_g^T (k, og) @ gy_g (og, len)
      gm.trans_a = true;
      gm.m = k;
      gm.n = len;
      gm.k = og;
      gm.batch = g.groups;
      gm.a = w.raw_data();
      gm.lda = k;
      gm.stride_a = og * k;
      gm.b = gyc;
      gm.ldb = len;
      gm.stride_b = og * len;
      gm.c = gcol.raw_data();
      gm.ldc = len;
      gm.stride_c = k * len;
      run_gemm(l.dev, dt, gm);
      TS_CUDA_CHECK(kernels::col2im(gcol.raw_data(), gx.raw_data(), g, n0, nb, l.st, l.stream),
                    "conv2d_backward (col2im)");
    }
  }
  if (gw.defined() && !gw_acc.is_same(gw))
    TS_CUDA_CHECK(kernels::convert_from_float(static_cast<const float*>(gw_acc.raw_data()), gw.raw_data(), gw.numel(),
                                              l.st, l.stream),
                  "conv2d_backward (weight gradient)");
}

void zero(const Tensor& t, cudaStream_t stream) {
  if (t.defined() && t.numel() > 0)
    TS_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.nbytes(), stream), "conv2d_backward (zero fill)");
}

}  // namespace

void CudaBackend::conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, const Conv2dParams& p,
                         const Tensor& out) {
  constexpr const char* op = "conv2d";
  const int dev = cuda_detail::common_device(op, {&x_in, &w_in, &b_in, &out});
  cuda_detail::DeviceGuard guard(dev);
  check_conv(op, x_in, w_in, out, p);
  TS_CHECK(!b_in.defined() || (b_in.dtype() == x_in.dtype() && b_in.numel() == w_in.shape()[0]),
           "{}: bias must be {} with {} elements, got {} of shape {}", op, dtype_name(x_in.dtype()), w_in.shape()[0],
           b_in.defined() ? dtype_name(b_in.dtype()) : "", b_in.defined() ? shape_str(b_in.shape()) : "");
  TS_CHECK(out.is_contiguous(), "{}: the output must be contiguous", op);
  if (out.numel() == 0) return;
  const Tensor x = dense(x_in), w = dense(w_in), b = dense(b_in);
  const Launch l{dev, cuda_detail::current_stream(dev), cuda_detail::scalar_type(x.dtype())};
  const kernels::ConvGeometry g = geometry(x, w, out, p);
  if (!cuda_detail::cudnn_conv2d(cuda_detail::ConvPass::Forward, x, w, out, p)) im2col_forward(l, g, x, w, out);
  if (b.defined())
    TS_CUDA_CHECK(kernels::add_bias(out.raw_data(), b.raw_data(), g.n, g.o, g.ho * g.wo, l.st, l.stream),
                  "conv2d (bias)");
}

void CudaBackend::conv2d_backward(const Tensor& gy_in, const Tensor& x_in, const Tensor& w_in, const Conv2dParams& p,
                                  const Tensor& grad_x, const Tensor& grad_w, const Tensor& grad_bias) {
  constexpr const char* op = "conv2d_backward";
  const int dev = cuda_detail::common_device(op, {&gy_in, &x_in, &w_in, &grad_x, &grad_w, &grad_bias});
  cuda_detail::DeviceGuard guard(dev);
  check_conv(op, x_in, w_in, gy_in, p);
  const auto check_grad = [&](const Tensor& grad, const Tensor& like, const char* what) {
    TS_CHECK(!grad.defined() || (grad.shape() == like.shape() && grad.dtype() == like.dtype() && grad.is_contiguous()),
             "{}: {} must be contiguous {} of shape {}", op, what, dtype_name(like.dtype()), shape_str(like.shape()));
  };
  check_grad(grad_x, x_in, "grad_x");
  check_grad(grad_w, w_in, "grad_w");
  TS_CHECK(!grad_bias.defined() ||
               (grad_bias.numel() == w_in.shape()[0] && grad_bias.dtype() == w_in.dtype() && grad_bias.is_contiguous()),
           "{}: grad_bias must be contiguous {} with {} elements", op, dtype_name(w_in.dtype()), w_in.shape()[0]);
  const Launch l{dev, cuda_detail::current_stream(dev), cuda_detail::scalar_type(x_in.dtype())};
  if (gy_in.numel() == 0) {  // nothing flows back: empty batch or empty output
    zero(grad_x, l.stream);
    zero(grad_w, l.stream);
    zero(grad_bias, l.stream);
    return;
  }
  const Tensor gy = dense(gy_in), x = dense(x_in), w = dense(w_in);
  const kernels::ConvGeometry g = geometry(x, w, gy, p);
  if (grad_bias.defined())
    TS_CUDA_CHECK(kernels::bias_grad(gy.raw_data(), grad_bias.raw_data(), g.n, g.o, g.ho * g.wo, l.st, l.stream),
                  "conv2d_backward (bias gradient)");
  const bool gx_done =
      !grad_x.defined() || cuda_detail::cudnn_conv2d(cuda_detail::ConvPass::BackwardData, grad_x, w, gy, p);
  const bool gw_done =
      !grad_w.defined() || cuda_detail::cudnn_conv2d(cuda_detail::ConvPass::BackwardFilter, x, grad_w, gy, p);
  if (!gx_done || !gw_done) im2col_backward(l, g, gy, x, w, gx_done ? Tensor() : grad_x, gw_done ? Tensor() : grad_w);
}

}  // namespace ts
