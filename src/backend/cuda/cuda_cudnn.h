#pragma once
// cuDNN plumbing for conv2d (cuda_conv.cpp): a pool of handles per device, and per-problem
// plans (descriptors, algorithm, workspace size) built once and cached. The functions exist
// only in builds with cuDNN (TESSERA_HAVE_CUDNN); conv2d falls back to im2col + cuBLAS without.
#include <cstdint>

#include "tessera/backend.h"

namespace ts::cuda_detail {

/// The three convolutions of conv2d's forward and backward.
enum class ConvPass : uint8_t {
  Forward,         ///< writes y from x and w
  BackwardData,    ///< writes x (the input gradient) from y (the output gradient) and w
  BackwardFilter,  ///< writes w (the weight gradient) from x and y (the output gradient)
};

#if defined(TESSERA_HAVE_CUDNN)

/// False when the environment sets TESSERA_CUDNN=0: conv2d then takes the im2col + cuBLAS path
/// (tests use it to check both). Read on every call, so a test can flip it.
bool cudnn_enabled();

/// Runs one pass of conv2d on cuDNN on the current stream of the tensors' device (the caller
/// holds a DeviceGuard). x (N, C, H, W), w (O, C / groups, kh, kw) and y (N, O, Ho, Wo) are
/// dense, of one float dtype. Returns false, having written nothing, when cuDNN does not
/// support the problem (dtype, sizes beyond its 32-bit limits, no algorithm); the caller then
/// uses its own kernels. Other cuDNN failures raise ts::Error.
bool cudnn_conv2d(ConvPass pass, const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p);
#endif

}  // namespace ts::cuda_detail
