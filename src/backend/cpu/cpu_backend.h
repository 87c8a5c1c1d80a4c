#pragma once
// The CPU backend: Eigen for GEMM, our own OpenMP loops for everything else. Each family of
// kernels lives in its own cpu_*.cpp file; this header is the one list of what it overrides.
#include "tessera/backend.h"

namespace ts {

class CpuBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::CPU; }
  const char* name() const override { return "cpu"; }
  int device_count() const override { return 1; }

  // cpu_memory.cpp
  void* allocate(size_t nbytes, int device_index) override;
  void deallocate(void* ptr, size_t nbytes, int device_index) override;
  void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) override;
  void synchronize(int) override {}

  // cpu_elementwise.cpp
  void copy(const Tensor& src, const Tensor& dst) override;
  void fill(const Tensor& out, double value) override;
  void unary(UnaryOp op, const UnaryParams& p, const Tensor& x, const Tensor& out) override;
  void unary_backward(UnaryOp op, const UnaryParams& p, const Tensor& grad_out, const Tensor& x,
                      const Tensor& result, const Tensor& grad_in) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) override;

  // cpu_random.cpp
  void fill_uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) override;
  void fill_normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) override;

  // cpu_reduce.cpp
  void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out) override;
  void arg_reduce(ReduceOp op, const Tensor& x, int64_t dim, const Tensor& values, const Tensor& indices) override;

  // cpu_matmul.cpp
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out) override;

  // NN kernels and indexing kernels are added below, each family in its own cpu_*.cpp file.

  // cpu_softmax.cpp
  void softmax(const Tensor& x, int64_t dim, bool log, const Tensor& out) override;
  void softmax_backward(const Tensor& grad_out, const Tensor& y, int64_t dim, bool log,
                        const Tensor& grad_in) override;

  // cpu_index.cpp
  void index_select(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override;
  void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override;
  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;

  // cpu_conv.cpp
  void conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
              const Tensor& out) override;
  void conv2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& w, const Conv2dParams& p,
                       const Tensor& grad_x, const Tensor& grad_w, const Tensor& grad_bias) override;

  // cpu_pool.cpp
  void max_pool2d(const Tensor& x, const Pool2dParams& p, const Tensor& out, const Tensor& indices) override;
  void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Pool2dParams& p,
                           const Tensor& grad_in) override;
  void avg_pool2d(const Tensor& x, const Pool2dParams& p, const Tensor& out) override;
  void avg_pool2d_backward(const Tensor& grad_out, const Pool2dParams& p, const Tensor& grad_in) override;
  void adaptive_avg_pool2d(const Tensor& x, const Tensor& out) override;
  void adaptive_avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_in) override;

  // cpu_norm.cpp
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

  // cpu_rms_norm.cpp
  void rms_norm(const Tensor& x, const Tensor& weight, double eps, const Tensor& y, const Tensor& rstd) override;
  void rms_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& rstd, const Tensor& weight,
                         const Tensor& grad_x, const Tensor& grad_weight) override;

  // cpu_attention.cpp
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p, const Tensor& out,
                 const Tensor& lse) override;
  void attention_backward(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
                          const Tensor& out, const Tensor& lse, const AttentionParams& p, const Tensor& grad_q,
                          const Tensor& grad_k, const Tensor& grad_v) override;

  // cpu_cross_entropy.cpp
  void cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, const Tensor& loss,
                     const Tensor& lse) override;
  void cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& target, const Tensor& lse,
                              int64_t ignore_index, const Tensor& grad_logits) override;

  // cpu_optim.cpp
  void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                  const SgdUpdate& u) override;
  void adam_update(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                   const Tensor& max_exp_avg_sq, const AdamUpdate& u) override;
};

/// The process-wide CPU backend instance.
CpuBackend& cpu_backend();

}  // namespace ts
