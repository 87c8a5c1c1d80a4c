#pragma once
/// The device layer. One Backend per DeviceType, registered in one place (registry.cpp).
///
/// Contract (see docs/architecture.md, "Adding a backend"):
///  * The op layer does shape inference, type promotion, broadcasting and allocation; a
///    kernel entry point receives fully-formed tensors and writes into the outputs it is given.
///  * Unless a comment says otherwise, inputs may be arbitrary strided views (broadcast inputs
///    arrive expanded to the output's shape with stride 0) and outputs are contiguous.
///  * Inputs and outputs of one call share a dtype except where noted (comparisons write Bool,
///    index tensors are Int64, `copy` converts).
///  * Calls may be asynchronous with respect to the host (a device backend enqueues them on its
///    current stream); `synchronize` waits. Host reads go through `copy_bytes` to the CPU.
///  * An entry point a backend does not override raises a ts::Error naming the op and device.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "tessera/device.h"
#include "tessera/tensor.h"

namespace ts {

enum class UnaryOp : uint8_t {
  Neg, Abs, Sign, Exp, Log, Sqrt, Rsqrt, Reciprocal, Square, Sin, Cos,
  Tanh, Sigmoid, Relu, GeluTanh, GeluErf, Silu,
  PowScalar,  ///< x ** p.a
  Clamp,      ///< clamp(x, p.a, p.b); p.has_a / p.has_b say which bounds are present
  LogicalNot, ///< writes Bool
};

struct UnaryParams {
  double a = 0, b = 0;
  bool has_a = false, has_b = false;
};

enum class BinaryOp : uint8_t {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum,
  Eq, Ne, Lt, Le, Gt, Ge,  ///< write Bool
  LogicalAnd, LogicalOr,   ///< write Bool
};

enum class ReduceOp : uint8_t { Sum, Mean, Max, Min, Prod };

struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1, groups = 1;
};

struct Pool2dParams {
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;  ///< max pooling only
  bool count_include_pad = true;           ///< avg pooling only
};

/// One optimizer step for one parameter tensor (src/optim): PyTorch 1.13's SGD update.
struct SgdUpdate {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
  bool init_buffer = false;  ///< first step with momentum: the buffer becomes the (decayed) gradient
};

/// One Adam/AdamW step for one parameter tensor: PyTorch 1.13's update with bias correction.
struct AdamUpdate {
  double lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool amsgrad = false, maximize = false;
  bool decoupled_weight_decay = false;  ///< AdamW: param *= 1 - lr * weight_decay instead of L2 on the grad
  int64_t step = 1;                     ///< 1-based count including this update
};

/// Fused scaled-dot-product attention (src/ops/attention.cpp). With `causal`, query i of T
/// may attend key j of S only when j <= i + (S - T): the mask is aligned to the bottom-right,
/// so the last query sees every key (a decode step against a KV cache) and T == S is the
/// usual lower-triangular mask. No mask tensor exists; kernels skip the masked blocks.
struct AttentionParams {
  double scale = 1.0;
  bool causal = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceType type() const = 0;
  virtual const char* name() const = 0;
  /// Number of devices of this type usable now (0 = not available, e.g. no GPU or driver).
  virtual int device_count() const = 0;

  // ---- memory and transfers ------------------------------------------------------------
  virtual void* allocate(size_t nbytes, int device_index) = 0;
  virtual void deallocate(void* ptr, size_t nbytes, int device_index) = 0;
  /// Copies raw bytes where at least one side is on this backend's device type.
  virtual void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) = 0;
  /// Waits for all queued work on `device_index`.
  virtual void synchronize(int device_index) = 0;

  // ---- elementwise -----------------------------------------------------------------------
  /// dst[i] = cast(src[i]); same shape, any strides and dtypes, dst may be non-contiguous.
  virtual void copy(const Tensor& src, const Tensor& dst);
  /// Sets every element of `out` (any strides) to `value`.
  virtual void fill(const Tensor& out, double value);
  virtual void unary(UnaryOp op, const UnaryParams& p, const Tensor& x, const Tensor& out);
  /// grad_in = grad_out * d op(x)/dx, where `result` = op(x) (kernels may use either).
  virtual void unary_backward(UnaryOp op, const UnaryParams& p, const Tensor& grad_out, const Tensor& x,
                              const Tensor& result, const Tensor& grad_in);
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
  /// out = cond ? a : b; cond is Bool.
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);

  // ---- random (counter-based: element i of a call draws from Philox(seed, offset + i)) -------
  virtual void fill_uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset);
  virtual void fill_normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset);

  // ---- reductions ------------------------------------------------------------------------
  /// Reduces `dims` (sorted, unique) of x into out, whose shape is x's with those dims set to 1.
  virtual void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out);
  /// Max/Min along one dim: values (x's dtype) and indices (Int64), keepdim shapes.
  virtual void arg_reduce(ReduceOp op, const Tensor& x, int64_t dim, const Tensor& values, const Tensor& indices);

  // ---- linear algebra --------------------------------------------------------------------
  /// out[b] = a[b] @ b[b]; a (B, M, K), b (B, K, N), out (B, M, N) contiguous; float dtypes.
  virtual void matmul(const Tensor& a, const Tensor& b, const Tensor& out);

  // ---- NN primitives (x contiguous unless noted) -------------------------------------------
  /// Softmax (or log-softmax) over `dim` of a contiguous x.
  virtual void softmax(const Tensor& x, int64_t dim, bool log, const Tensor& out);
  /// grad_in from grad_out and the forward result y.
  virtual void softmax_backward(const Tensor& grad_out, const Tensor& y, int64_t dim, bool log,
                                const Tensor& grad_in);
  /// x (N, C, H, W), w (O, C/groups, kH, kW), bias (O) or undefined, out (N, O, Ho, Wo).
  virtual void conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                      const Tensor& out);
  /// Any of grad_x / grad_w / grad_bias may be undefined (not needed).
  virtual void conv2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& w, const Conv2dParams& p,
                               const Tensor& grad_x, const Tensor& grad_w, const Tensor& grad_bias);
  /// x (N, C, H, W); indices (Int64) hold the flat h*W+w argmax within each input plane.
  virtual void max_pool2d(const Tensor& x, const Pool2dParams& p, const Tensor& out, const Tensor& indices);
  /// grad_in (N, C, H, W) contiguous; `p` is the forward's window, so a kernel can gather each
  /// input's gradient from the windows that cover it (deterministic, no atomics).
  virtual void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Pool2dParams& p,
                                   const Tensor& grad_in);
  virtual void avg_pool2d(const Tensor& x, const Pool2dParams& p, const Tensor& out);
  virtual void avg_pool2d_backward(const Tensor& grad_out, const Pool2dParams& p, const Tensor& grad_in);
  /// PyTorch's adaptive windows: start = floor(i*H/Ho), end = ceil((i+1)*H/Ho).
  virtual void adaptive_avg_pool2d(const Tensor& x, const Tensor& out);
  virtual void adaptive_avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_in);
  /// Normalizes the last `normalized_size` elements of each row of x (rows, normalized_size);
  /// weight/bias (normalized_size) may be undefined. mean/rstd: (rows), float32 or x's dtype.
  virtual void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                          const Tensor& mean, const Tensor& rstd);
  virtual void layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& weight, const Tensor& grad_x, const Tensor& grad_weight,
                                   const Tensor& grad_bias);
  /// RMS-normalizes each row of x (rows, normalized_size): n = x * rstd with
  /// rstd = 1/sqrt(mean(x^2) + eps) computed in float32 (float64 for float64 x); y = n, rounded
  /// to x's dtype, times weight (normalized_size, x's dtype) when defined, rounded again (the
  /// order torch.nn.functional.rms_norm's composition rounds in). rstd: (rows), float32 or float64.
  virtual void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& y, const Tensor& rstd);
  /// grad_x = rstd * (g - n * mean(g * n)) with g = grad_y * weight; grad_weight = column sums of
  /// grad_y * n. Either output may be undefined (not needed); grad_x is (rows, normalized_size).
  virtual void rms_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& rstd, const Tensor& weight,
                                 const Tensor& grad_x, const Tensor& grad_weight);
  /// x (N, C, *). Training: uses batch statistics, writes save_mean/save_invstd (C) and, if
  /// defined, updates running stats with `momentum` (unbiased variance). Eval: uses running stats.
  virtual void batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                          const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                          const Tensor& save_mean, const Tensor& save_invstd);
  virtual void batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                   const Tensor& save_mean, const Tensor& save_invstd, bool training,
                                   const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias);

  /// q (B, H, T, D), k (B, H, S, D), v (B, H, S, Dv): any strides with a unit last-dim stride.
  /// out (B, H, T, Dv) contiguous; lse (B, H, T) receives each row's log-sum-exp of the scaled
  /// scores (float32, or float64 for float64 inputs) for the backward pass.
  virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p,
                         const Tensor& out, const Tensor& lse);
  /// Recomputes the probabilities from q, k and lse (nothing T x S is saved); grad_q/k/v are
  /// contiguous with q/k/v's shapes.
  virtual void attention_backward(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& out, const Tensor& lse, const AttentionParams& p,
                                  const Tensor& grad_q, const Tensor& grad_k, const Tensor& grad_v);

  /// Fused softmax cross-entropy over the rows of a contiguous logits (N, C); target (N) Int64,
  /// already range-checked. loss (N, logits' dtype) = lse - logits[n, target[n]], and 0 where
  /// target[n] == ignore_index; lse (N) = each row's log-sum-exp (float32, or float64 for
  /// float64 logits), saved for the backward. Nothing (N, C) is written.
  virtual void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, const Tensor& loss,
                             const Tensor& lse);
  /// grad_logits[n] = grad_loss[n] * (softmax(logits[n]) - onehot(target[n])), zero rows for
  /// ignored targets; grad_loss (N) contiguous in logits' dtype, grad_logits (N, C) contiguous.
  virtual void cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& target,
                                      const Tensor& lse, int64_t ignore_index, const Tensor& grad_logits);

  // ---- indexing (index tensors are Int64 and already range-checked by the op layer) ---------
  /// out = x.index_select(dim, index); x contiguous.
  virtual void index_select(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out);
  /// out.index_select(dim, index) += src (accumulating duplicates); out contiguous.
  virtual void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
  /// out[i][j][k] = x[i][index[i][j][k]][k] (for dim 1); index has out's shape.
  virtual void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out);
  /// out[i][index[i][j][k]][k] += src[i][j][k] (for dim 1); out contiguous.
  virtual void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);

  // ---- optimizer updates (one call per parameter tensor; all operands share shape and dtype,
  //      any strides; param and state are updated in place, grad is read only) --------------
  /// momentum_buffer is undefined when u.momentum == 0.
  virtual void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                          const SgdUpdate& u);
  /// max_exp_avg_sq is undefined unless u.amsgrad.
  virtual void adam_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                           const Tensor& max_exp_avg_sq, const AdamUpdate& u);

 protected:
  [[noreturn]] void unsupported(const char* op) const;
};

/// The backend for a device type; throws ts::Error if none is registered or none usable.
Backend& backend_for(DeviceType type);
inline Backend& backend_for(const Device& d) { return backend_for(d.type); }
inline Backend& backend_for(const Tensor& t) { return backend_for(t.device().type); }
/// True when a backend is registered for `type` and has at least one device.
bool is_available(DeviceType type);
/// Every registered backend with at least one device (the conformance suite iterates these).
std::vector<Backend*> available_backends();

}  // namespace ts
