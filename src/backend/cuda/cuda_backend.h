#pragma once
// The CUDA backend: our kernels (kernels/*.cu) for elementwise, reductions, normalization,
// indexing, attention and optimizer updates; cuBLAS/cuBLASLt for GEMM; cuDNN for convolution
// when it is available. Each family's host code (Tensor -> kernel arguments, launch, error
// check) lives in its own cuda_*.cpp file; this header is the one list of what it overrides.
// Only compiled with the toolkit (TESSERA_CUDA); the registry sees it through cuda_backend_instance().
#include "tessera/backend.h"

namespace ts {

class CudaBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::CUDA; }
  const char* name() const override { return "cuda"; }
  /// 0 when there is no GPU or the driver is missing or too old (never throws).
  int device_count() const override;

  // cuda_memory.cpp: the caching allocator, transfers, synchronization
  void* allocate(size_t nbytes, int device_index) override;
  void deallocate(void* ptr, size_t nbytes, int device_index) override;
  void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) override;
  void synchronize(int device_index) override;

  // cuda_elementwise.cpp (kernels/elementwise.cu)
  void copy(const Tensor& src, const Tensor& dst) override;
  void fill(const Tensor& out, double value) override;
  void unary(UnaryOp op, const UnaryParams& p, const Tensor& x, const Tensor& out) override;
  void unary_backward(UnaryOp op, const UnaryParams& p, const Tensor& grad_out, const Tensor& x,
                      const Tensor& result, const Tensor& grad_in) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) override;

  // cuda_random.cpp (kernels/random.cu): the CPU backend's Philox stream, element for element
  void fill_uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) override;
  void fill_normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) override;

  // cuda_reduce.cpp (kernels/reduce.cu)
  void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out) override;
  void arg_reduce(ReduceOp op, const Tensor& x, int64_t dim, const Tensor& values, const Tensor& indices) override;

  // cuda_matmul.cpp (cuBLAS / cuBLASLt)
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out) override;

  // cuda_softmax.cpp (kernels/softmax.cu)
  void softmax(const Tensor& x, int64_t dim, bool log, const Tensor& out) override;
  void softmax_backward(const Tensor& grad_out, const Tensor& y, int64_t dim, bool log,
                        const Tensor& grad_in) override;

  // cuda_index.cpp (kernels/index.cu): embedding forward/backward, gather/scatter
  void index_select(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override;
  void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override;
  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;

  // cuda_conv.cpp (cuDNN, else kernels/im2col.cu + cuBLAS)
  void conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
              const Tensor& out) override;
  void conv2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& w, const Conv2dParams& p,
                       const Tensor& grad_x, const Tensor& grad_w, const Tensor& grad_bias) override;

  // cuda_pool.cpp (kernels/pool.cu)
  void max_pool2d(const Tensor& x, const Pool2dParams& p, const Tensor& out, const Tensor& indices) override;
  void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Pool2dParams& p,
                           const Tensor& grad_in) override;
  void avg_pool2d(const Tensor& x, const Pool2dParams& p, const Tensor& out) override;
  void avg_pool2d_backward(const Tensor& grad_out, const Pool2dParams& p, const Tensor& grad_in) override;
  void adaptive_avg_pool2d(const Tensor& x, const Tensor& out) override;
  void adaptive_avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_in) override;

  // cuda_norm.cpp (kernels/norm.cu)
  void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                  const Tensor& mean, const Tensor& rstd) override;
  void layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                           const Tensor& weight, const Tensor& grad_x, const Tensor& grad_weight,
                           const Tensor& grad_bias) override;
  void batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                  const Tensor& save_mean, const Tensor& save_invstd) override;
  void batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& save_mean,
                           const Tensor& save_invstd, bool training, const Tensor& grad_x,
                           const Tensor& grad_weight, const Tensor& grad_bias) override;

  // cuda_rms_norm.cpp (kernels/rms_norm.cu)
  void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& y, const Tensor& rstd) override;
  void rms_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& rstd, const Tensor& weight,
                         const Tensor& grad_x, const Tensor& grad_weight) override;

  // cuda_attention.cpp (kernels/attention.cu): flash-attention tiling, nothing T x S in memory
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p, const Tensor& out,
                 const Tensor& lse) override;
  void attention_backward(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
                          const Tensor& out, const Tensor& lse, const AttentionParams& p, const Tensor& grad_q,
                          const Tensor& grad_k, const Tensor& grad_v) override;

  // cuda_cross_entropy.cpp (kernels/cross_entropy.cu): one pass per row, nothing (N, C) saved
  void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, const Tensor& loss,
                     const Tensor& lse) override;
  void cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& target, const Tensor& lse,
                              int64_t ignore_index, const Tensor& grad_logits) override;

  // cuda_optim.cpp (kernels/optim.cu): fused updates
  void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                  const SgdUpdate& u) override;
  void adam_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                   const Tensor& max_exp_avg_sq, const AdamUpdate& u) override;
};

/// The process-wide CUDA backend instance (registered in src/backend/backend.cpp).
CudaBackend& cuda_backend();

}  // namespace ts
