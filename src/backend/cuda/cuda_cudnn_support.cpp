// The shared cuDNN pieces (cuda_cudnn_support.h) and the TESSERA_CUDNN switch (cuda_cudnn.h);
// in a build without cuDNN, entry points that always decline.
#include "backend/cuda/cuda_cudnn.h"
#include "backend/cuda/cuda_cudnn_support.h"

#if defined(TESSERA_HAVE_CUDNN)
#include <cstdlib>
#include <map>
#include <mutex>
#include <string_view>
#include <vector>

#include "backend/cuda/cuda_context.h"
#include "tessera/error.h"

namespace ts::cuda_detail {
namespace cudnn_util {
namespace {

struct HandlePool {
  std::mutex mutex;
  std::map<int, std::vector<cudnnHandle_t>> free;
};

HandlePool& handle_pool() {
  static auto* pool = new HandlePool;  // leaked: ops may run during static destruction
  return *pool;
}

}  // namespace

[[noreturn]] void throw_cudnn_error(cudnnStatus_t st, const char* what, const char* file, int line) {
  detail::throw_error(file, line, fmt::format("{}: cuDNN error {} ({})", what, static_cast<int>(st),
                                              cudnnGetErrorString(st)));
}

BorrowedHandle::BorrowedHandle(int device) : device_(device) {
  const cudaStream_t stream = current_stream(device);
  {
    std::lock_guard<std::mutex> lock(handle_pool().mutex);
    auto& free = handle_pool().free[device];
    if (!free.empty()) {
      handle_ = free.back();
      free.pop_back();
    }
  }
  if (handle_ == nullptr) TS_CUDNN_CHECK(cudnnCreate(&handle_), "cudnnCreate");  // on the guarded device
  const cudnnStatus_t st = cudnnSetStream(handle_, stream);
  if (!ok(st)) {
    release();
    throw_cudnn_error(st, "cudnnSetStream", __FILE__, __LINE__);
  }
}

void BorrowedHandle::release() {
  if (handle_ == nullptr) return;
  std::lock_guard<std::mutex> lock(handle_pool().mutex);
  handle_pool().free[device_].push_back(handle_);
  handle_ = nullptr;
}

std::optional<cudnnDataType_t> data_type(DType dt) {
  switch (dt) {
    case DType::Float32: return CUDNN_DATA_FLOAT;
    case DType::Float64: return CUDNN_DATA_DOUBLE;
    case DType::Float16: return CUDNN_DATA_HALF;
    case DType::BFloat16: return CUDNN_DATA_BFLOAT16;
    default: return std::nullopt;
  }
}

bool fits_cudnn(const Tensor& t) {
  if (t.numel() >= INT_MAX) return false;
  for (int64_t s : t.shape())
    if (s > INT_MAX) return false;
  return true;
}

}  // namespace cudnn_util

bool cudnn_enabled() {
  const char* v = std::getenv("TESSERA_CUDNN");
  return v == nullptr || std::string_view(v) != "0";
}

}  // namespace ts::cuda_detail
#else  // no cuDNN in this build: every entry point declines

namespace ts::cuda_detail {

bool cudnn_enabled() { return false; }
bool cudnn_conv2d(ConvPass, const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&) { return false; }
bool cudnn_batch_norm_training(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, double,
                               const Tensor&, const Tensor&, const Tensor&) {
  return false;
}
bool cudnn_batch_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                               const Tensor&, const Tensor&) {
  return false;
}
bool cudnn_avg_pool2d(PoolPass, const Tensor&, const Tensor&, const Pool2dParams&) { return false; }

}  // namespace ts::cuda_detail
#endif
