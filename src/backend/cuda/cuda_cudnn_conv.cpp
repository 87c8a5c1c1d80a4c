// conv2d on cuDNN's legacy API (cuda_cudnn.h): a plan is built once per problem (shapes, params,
// dtype, pass, TF32 setting, device): descriptors plus the first algorithm
// cudnnGet*Algorithm_v7 ranks that cuDNN accepts within kMaxWorkspace. Plans are immutable once
// cached, so threads share them; handles are not shared concurrently.
#include "backend/cuda/cuda_cudnn.h"

#if defined(TESSERA_HAVE_CUDNN)
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_cudnn_support.h"
#include "tessera/error.h"

namespace ts::cuda_detail {
using namespace cudnn_util;  // NOLINT(google-build-using-namespace): this file is a cudnn_util user
namespace {

// Algorithms needing more scratch than this are skipped (cuDNN's FFT variants can ask for
// gigabytes); a cheaper-ranked one is nearly always within a few percent.
constexpr size_t kMaxWorkspace = size_t{1} << 30;

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0;  // the pass's cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  size_t workspace = 0;

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    if (x != nullptr) (void)cudnnDestroyTensorDescriptor(x);
    if (y != nullptr) (void)cudnnDestroyTensorDescriptor(y);
    if (w != nullptr) (void)cudnnDestroyFilterDescriptor(w);
    if (conv != nullptr) (void)cudnnDestroyConvolutionDescriptor(conv);
  }
};

// Every input of a plan: device, dtype, pass, TF32, x (n, c, h, w), w (o, kh, kw), 7 params.
using PlanKey = std::array<int64_t, 18>;

struct PlanCache {
  std::mutex mutex;
  std::map<PlanKey, std::shared_ptr<const Plan>> plans;  // null: cuDNN does not support it
};

PlanCache& plan_cache() {
  static auto* cache = new PlanCache;  // leaked, as the handles
  return *cache;
}

// float32 without TF32 must stay on FMA kernels (CUDNN_DEFAULT_MATH allows TF32 on Ampere and
// later); otherwise tensor cores are welcome (16-bit inputs accumulate in float).
cudnnMathType_t math_type(DType dt, bool tf32) {
  if (dt == DType::Float32) return tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  if (dt == DType::Float64) return CUDNN_DEFAULT_MATH;
  return CUDNN_TENSOR_OP_MATH;
}

// Takes the first algorithm in cuDNN's ranking that it accepts with our math type and whose
// workspace fits; `workspace_size(algo, &bytes)` asks cuDNN for the exact size.
template <typename Perf, typename WorkspaceFn>
bool choose_algorithm(Plan& plan, const Perf* perf, int found, DType dt, bool tf32, WorkspaceFn&& workspace_size) {
  for (int i = 0; i < found; ++i) {
    if (!ok(perf[i].status) || perf[i].memory > kMaxWorkspace) continue;
    const cudnnMathType_t math = dt == DType::Float32 && !tf32 ? CUDNN_FMA_MATH : perf[i].mathType;
    if (!ok(cudnnSetConvolutionMathType(plan.conv, math))) continue;
    size_t bytes = 0;
    if (!ok(workspace_size(perf[i].algo, &bytes)) || bytes > kMaxWorkspace) continue;
    plan.algo = static_cast<int>(perf[i].algo);
    plan.workspace = bytes;
    return true;
  }
  return false;
}

std::shared_ptr<const Plan> build_plan(cudnnHandle_t handle, ConvPass pass, const Tensor& xt, const Tensor& wt,
                                       const Tensor& yt, const Conv2dParams& p, cudnnDataType_t dt, bool tf32) {
  const auto i32 = [](int64_t v) { return static_cast<int>(v); };
  const Shape &xs = xt.shape(), &ws = wt.shape(), &ys = yt.shape();
  const DType dtype = xt.dtype();
  auto plan = std::make_shared<Plan>();
  if (!ok(cudnnCreateTensorDescriptor(&plan->x)) || !ok(cudnnCreateTensorDescriptor(&plan->y)) ||
      !ok(cudnnCreateFilterDescriptor(&plan->w)) || !ok(cudnnCreateConvolutionDescriptor(&plan->conv)))
    return nullptr;
  if (!ok(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NCHW, dt, i32(xs[0]), i32(xs[1]), i32(xs[2]), i32(xs[3]))) ||
      !ok(cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NCHW, dt, i32(ys[0]), i32(ys[1]), i32(ys[2]), i32(ys[3]))) ||
      !ok(cudnnSetFilter4dDescriptor(plan->w, dt, CUDNN_TENSOR_NCHW, i32(ws[0]), i32(ws[1]), i32(ws[2]), i32(ws[3]))))
    return nullptr;
  const cudnnDataType_t compute = dt == CUDNN_DATA_DOUBLE ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  if (!ok(cudnnSetConvolution2dDescriptor(plan->conv, i32(p.pad_h), i32(p.pad_w), i32(p.stride_h), i32(p.stride_w),
                                          i32(p.dilation_h), i32(p.dilation_w), CUDNN_CROSS_CORRELATION, compute)) ||
      !ok(cudnnSetConvolutionGroupCount(plan->conv, i32(p.groups))) ||
      !ok(cudnnSetConvolutionMathType(plan->conv, math_type(dtype, tf32))))
    return nullptr;
  std::array<int, 4> out{};
  if (!ok(cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, plan->w, &out[0], &out[1], &out[2], &out[3])))
    return nullptr;
  TS_CHECK(out[0] == ys[0] && out[1] == ys[1] && out[2] == ys[2] && out[3] == ys[3],
           "conv2d: cuDNN computes output shape ({}) for input {} and weight {}, but the output is {}",
           fmt::join(out, ", "), shape_str(xs), shape_str(ws), shape_str(ys));

  int found = 0;
  Plan& pl = *plan;
  bool chosen = false;
  switch (pass) {
    case ConvPass::Forward: {
      std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> perf{};
      if (!ok(cudnnGetConvolutionForwardAlgorithm_v7(handle, pl.x, pl.w, pl.conv, pl.y, i32(perf.size()), &found,
                                                     perf.data())))
        return nullptr;
      chosen = choose_algorithm(pl, perf.data(), found, dtype, tf32, [&](cudnnConvolutionFwdAlgo_t a, size_t* b) {
        return cudnnGetConvolutionForwardWorkspaceSize(handle, pl.x, pl.w, pl.conv, pl.y, a, b);
      });
      break;
    }
    case ConvPass::BackwardData: {
      std::array<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT> perf{};
      if (!ok(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, pl.w, pl.y, pl.conv, pl.x, i32(perf.size()), &found,
                                                          perf.data())))
        return nullptr;
      chosen = choose_algorithm(pl, perf.data(), found, dtype, tf32, [&](cudnnConvolutionBwdDataAlgo_t a, size_t* b) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(handle, pl.w, pl.y, pl.conv, pl.x, a, b);
      });
      break;
    }
    case ConvPass::BackwardFilter: {
      std::array<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT> perf{};
      if (!ok(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, pl.x, pl.y, pl.conv, pl.w, i32(perf.size()),
                                                            &found, perf.data())))
        return nullptr;
      chosen = choose_algorithm(pl, perf.data(), found, dtype, tf32, [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* b) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, pl.x, pl.y, pl.conv, pl.w, a, b);
      });
      break;
    }
  }
  return chosen ? plan : nullptr;
}

}  // namespace

bool cudnn_conv2d(ConvPass pass, const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p) {
  if (!cudnn_enabled()) return false;
  const std::optional<cudnnDataType_t> dt = data_type(x.dtype());
  if (!dt || !fits_cudnn(x) || !fits_cudnn(w) || !fits_cudnn(y)) return false;
  if (!aligned_for_cudnn(x) || !aligned_for_cudnn(w) || !aligned_for_cudnn(y)) return false;
  if (p.stride_h > INT_MAX || p.stride_w > INT_MAX || p.pad_h > INT_MAX || p.pad_w > INT_MAX ||
      p.dilation_h > INT_MAX || p.dilation_w > INT_MAX || p.groups > INT_MAX)
    return false;
  const int dev = x.device().index;
  const bool tf32 = x.dtype() == DType::Float32 && allow_tf32();
  const PlanKey key{dev,           static_cast<int64_t>(x.dtype()), static_cast<int64_t>(pass), tf32,
                    x.shape()[0],  x.shape()[1],                    x.shape()[2],               x.shape()[3],
                    w.shape()[0],  w.shape()[2],                    w.shape()[3],               p.stride_h,
                    p.stride_w,    p.pad_h,                         p.pad_w,                    p.dilation_h,
                    p.dilation_w,  p.groups};
  BorrowedHandle handle(dev);
  PlanCache& cache = plan_cache();
  std::shared_ptr<const Plan> plan;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    if (auto it = cache.plans.find(key); it != cache.plans.end()) {
      plan = it->second;
      cached = true;
    }
  }
  if (!cached) {
    plan = build_plan(handle.get(), pass, x, w, y, p, *dt, tf32);
    std::lock_guard<std::mutex> lock(cache.mutex);
    cache.plans.emplace(key, plan);  // a concurrent build of the same problem is equivalent
  }
  if (!plan) return false;

  const Tensor workspace =
      plan->workspace > 0 ? make_tensor({static_cast<int64_t>(plan->workspace)}, DType::UInt8, x.device()) : Tensor();
  void* ws = workspace.defined() ? workspace.raw_data() : nullptr;
  const Scaling scaling(*dt);
  const void* alpha = scaling.one();
  const void* beta = scaling.zero();
  cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
  const char* what = "conv2d (cudnnConvolutionForward)";
  switch (pass) {
    case ConvPass::Forward:
      st = cudnnConvolutionForward(handle.get(), alpha, plan->x, x.raw_data(), plan->w, w.raw_data(), plan->conv,
                                   static_cast<cudnnConvolutionFwdAlgo_t>(plan->algo), ws, plan->workspace, beta,
                                   plan->y, y.raw_data());
      break;
    case ConvPass::BackwardData:
      what = "conv2d_backward (cudnnConvolutionBackwardData)";
      st = cudnnConvolutionBackwardData(handle.get(), alpha, plan->w, w.raw_data(), plan->y, y.raw_data(), plan->conv,
                                        static_cast<cudnnConvolutionBwdDataAlgo_t>(plan->algo), ws, plan->workspace,
                                        beta, plan->x, x.raw_data());
      break;
    case ConvPass::BackwardFilter:
      what = "conv2d_backward (cudnnConvolutionBackwardFilter)";
      st = cudnnConvolutionBackwardFilter(handle.get(), alpha, plan->x, x.raw_data(), plan->y, y.raw_data(),
                                          plan->conv, static_cast<cudnnConvolutionBwdFilterAlgo_t>(plan->algo), ws,
                                          plan->workspace, beta, plan->w, w.raw_data());
      break;
  }
  if (not_supported(st)) {
    // Remember, so later calls go straight to our kernels.
    std::lock_guard<std::mutex> lock(cache.mutex);
    cache.plans[key] = nullptr;
    return false;
  }
  TS_CUDNN_CHECK(st, what);
  return true;
}

}  // namespace ts::cuda_detail
#endif
