#pragma once
// What the cuDNN callers of the CUDA backend share (cuda_cudnn_conv.cpp, cuda_cudnn_batch_norm.cpp,
// cuda_cudnn_pool.cpp): status checks, handles borrowed from a per-device pool, the dtype
// mapping, alpha/beta scalars and owned descriptors. Builds with cuDNN only.
#if defined(TESSERA_HAVE_CUDNN)
#include <climits>
#include <cstdint>
#include <optional>

#include <cudnn.h>

#include "tessera/tensor.h"

namespace ts::cuda_detail::cudnn_util {

[[noreturn]] void throw_cudnn_error(cudnnStatus_t st, const char* what, const char* file, int line);

#define TS_CUDNN_CHECK(expr, what)                                                                       \
  do {                                                                                                   \
    const cudnnStatus_t ts_cudnn_st_ = (expr);                                                           \
    if (ts_cudnn_st_ != CUDNN_STATUS_SUCCESS) throw_cudnn_error(ts_cudnn_st_, what, __FILE__, __LINE__); \
  } while (0)

inline bool ok(cudnnStatus_t st) { return st == CUDNN_STATUS_SUCCESS; }

// cuDNN declines a problem it has no kernel for with a status of this category (before writing
// anything); callers then use our kernels.
inline bool not_supported(cudnnStatus_t st) { return CUDNN_STATUS_CATEGORY(st) == CUDNN_STATUS_NOT_SUPPORTED; }

// Handles are created on first use and never destroyed, like the cuBLAS handles. Each op borrows
// one for its duration, so two threads never drive one handle (and its stream) at once. The
// handle is bound to the current stream of `device`, which the caller's DeviceGuard selects.
class BorrowedHandle {
 public:
  explicit BorrowedHandle(int device);
  ~BorrowedHandle() { release(); }
  BorrowedHandle(const BorrowedHandle&) = delete;
  BorrowedHandle& operator=(const BorrowedHandle&) = delete;
  cudnnHandle_t get() const { return handle_; }

 private:
  void release();
  int device_;
  cudnnHandle_t handle_ = nullptr;
};

/// cuDNN's type for a float dtype; nullopt for the others.
std::optional<cudnnDataType_t> data_type(DType dt);

/// data_type for the legacy batch-norm and pooling calls: bfloat16 is left to our kernels, since
/// whether those calls take it (or reject it with a status that is not NOT_SUPPORTED, which
/// would raise instead of falling back) has not been checked on a GPU yet.
inline std::optional<cudnnDataType_t> legacy_op_data_type(DType dt) {
  return dt == DType::BFloat16 ? std::nullopt : data_type(dt);
}

// cuDNN's alpha = 1 and beta = 0 (the result overwrites the output, which is not read): double
// for double data, float otherwise.
class Scaling {
 public:
  explicit Scaling(cudnnDataType_t dt) : dbl_(dt == CUDNN_DATA_DOUBLE) {}
  const void* one() const { return dbl_ ? static_cast<const void*>(&one_d_) : &one_f_; }
  const void* zero() const { return dbl_ ? static_cast<const void*>(&zero_d_) : &zero_f_; }

 private:
  bool dbl_;
  float one_f_ = 1.0f, zero_f_ = 0.0f;
  double one_d_ = 1.0, zero_d_ = 0.0;
};

// cuDNN's legacy API takes int sizes and tensors of fewer than 2^31 elements.
bool fits_cudnn(const Tensor& t);
inline bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

// cuDNN's legacy API never sees pointers when it picks an algorithm, and its kernels assume
// aligned operands (its release notes state a 4-byte minimum even for FP16; tensor-core kernels
// load 16-byte vectors). A contiguous view at an odd element offset (a batch slice of an f16
// tensor, a parameter inside a flat buffer) may then fault with a misaligned address, which
// poisons the CUDA context, rather than return a status we could fall back on. Our kernels take
// any alignment, so callers decline such operands. Undefined tensors pass.
inline bool aligned_for_cudnn(const Tensor& t) {
  return !t.defined() || reinterpret_cast<uintptr_t>(t.raw_data()) % 16 == 0;
}

// Owns one descriptor. Creation fails only without host memory: that raises ts::Error.
template <typename Desc, cudnnStatus_t (*Create)(Desc*), cudnnStatus_t (*Destroy)(Desc)>
class Descriptor {
 public:
  Descriptor() { TS_CUDNN_CHECK(Create(&desc_), "creating a cuDNN descriptor"); }
  ~Descriptor() { (void)Destroy(desc_); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  Desc get() const { return desc_; }

 private:
  Desc desc_ = nullptr;
};
using TensorDescriptor =
    Descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using PoolingDescriptor =
    Descriptor<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor, cudnnDestroyPoolingDescriptor>;

}  // namespace ts::cuda_detail::cudnn_util
#endif
