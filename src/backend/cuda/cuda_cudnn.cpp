// cuDNN's legacy API behind cuda_cudnn.h. conv2d: a plan is built once per problem (shapes,
// params, dtype, pass, TF32 setting, device): descriptors plus the first algorithm
// cudnnGet*Algorithm_v7 ranks that cuDNN accepts within kMaxWorkspace. Plans are immutable once
// cached, so threads share them; handles are not shared concurrently. Batch norm and average
// pooling set their few descriptors on every call, which costs about what a cache lookup would.
#include "backend/cuda/cuda_cudnn.h"

#if defined(TESSERA_HAVE_CUDNN)
#include <array>
#include <climits>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include <cudnn.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_tensor_args.h"

namespace ts::cuda_detail {
namespace {

[[noreturn]] void throw_cudnn_error(cudnnStatus_t st, const char* what, const char* file, int line) {
  detail::throw_error(file, line, fmt::format("{}: cuDNN error {} ({})", what, static_cast<int>(st),
                                              cudnnGetErrorString(st)));
}

#define TS_CUDNN_CHECK(expr, what)                                                                       \
  do {                                                                                                   \
    const cudnnStatus_t ts_cudnn_st_ = (expr);                                                           \
    if (ts_cudnn_st_ != CUDNN_STATUS_SUCCESS) throw_cudnn_error(ts_cudnn_st_, what, __FILE__, __LINE__); \
  } while (0)

bool ok(cudnnStatus_t st) { return st == CUDNN_STATUS_SUCCESS; }

// cuDNN declines a problem it has no kernel for with a status of this category (before writing
// anything); callers then use our kernels.
bool not_supported(cudnnStatus_t st) { return CUDNN_STATUS_CATEGORY(st) == CUDNN_STATUS_NOT_SUPPORTED; }

// Algorithms needing more scratch than this are skipped (cuDNN's FFT variants can ask for
// gigabytes); a cheaper-ranked one is nearly always within a few percent.
constexpr size_t kMaxWorkspace = size_t{1} << 30;

// ---- handles -----------------------------------------------------------------------------------

// Handles are created on first use and never destroyed, like the cuBLAS handles. Each op borrows
// one for its duration, so two threads never drive one handle (and its stream) at once.
struct HandlePool {
  std::mutex mutex;
  std::map<int, std::vector<cudnnHandle_t>> free;
};

HandlePool& handle_pool() {
  static auto* pool = new HandlePool;  // leaked: ops may run during static destruction
  return *pool;
}

class BorrowedHandle {
 public:
  explicit BorrowedHandle(int device) : device_(device) {
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
  ~BorrowedHandle() { release(); }
  BorrowedHandle(const BorrowedHandle&) = delete;
  BorrowedHandle& operator=(const BorrowedHandle&) = delete;
  cudnnHandle_t get() const { return handle_; }

 private:
  void release() {
    if (handle_ == nullptr) return;
    std::lock_guard<std::mutex> lock(handle_pool().mutex);
    handle_pool().free[device_].push_back(handle_);
    handle_ = nullptr;
  }
  int device_;
  cudnnHandle_t handle_ = nullptr;
};

// ---- plans -------------------------------------------------------------------------------------

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

std::optional<cudnnDataType_t> data_type(DType dt) {
  switch (dt) {
    case DType::Float32: return CUDNN_DATA_FLOAT;
    case DType::Float64: return CUDNN_DATA_DOUBLE;
    case DType::Float16: return CUDNN_DATA_HALF;
    case DType::BFloat16: return CUDNN_DATA_BFLOAT16;
    default: return std::nullopt;
  }
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

// cuDNN's legacy API takes int sizes and tensors of fewer than 2^31 elements.
bool fits_cudnn(const Tensor& t) {
  if (t.numel() >= INT_MAX) return false;
  for (int64_t s : t.shape())
    if (s > INT_MAX) return false;
  return true;
}

// ---- per-call descriptors (batch norm, pooling) ------------------------------------------------

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

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

// ---- batch norm --------------------------------------------------------------------------------

// The largest batch cuDNN's spatial batch norm is known to handle in training (PyTorch's limit,
// measured on cuDNN 7.6, where larger N failed); larger batches run our kernels.
constexpr int64_t kMaxBatchNormN = 880801;

// x (N, C, *) as the (N, C, S, 1) NCHW tensor cuDNN normalizes per channel over N * S, and the
// derived (1, C, 1, 1) descriptor of the per-channel tensors in cuDNN's parameter dtype.
struct BatchNormDescriptors {
  TensorDescriptor x, param;
  int64_t n = 0, c = 0, s = 0;
};

// False when x is not a problem cuDNN's batch norm takes as ours (see cuda_cudnn.h).
bool set_batch_norm_descriptors(BatchNormDescriptors& d, const Tensor& x, cudnnDataType_t dt) {
  if (x.dim() < 2 || !x.is_contiguous() || !fits_cudnn(x)) return false;
  d.n = x.shape()[0];
  d.c = x.shape()[1];
  if (d.n == 0 || d.c == 0 || d.n > kMaxBatchNormN) return false;
  d.s = x.numel() / (d.n * d.c);  // < 2^31, as numel is
  if (d.n * d.s <= 1) return false;
  const auto i32 = [](int64_t v) { return static_cast<int>(v); };
  return ok(cudnnSetTensor4dDescriptor(d.x.get(), CUDNN_TENSOR_NCHW, dt, i32(d.n), i32(d.c), i32(d.s), 1)) &&
         ok(cudnnDeriveBNTensorDescriptor(d.param.get(), d.x.get(), CUDNN_BATCHNORM_SPATIAL));
}

// A per-channel tensor cuDNN can read or write in place: `channels` contiguous elements of
// `dtype` (cuDNN's parameter dtype).
bool is_channel_tensor(const Tensor& t, DType dtype, int64_t channels) {
  return t.defined() && t.dtype() == dtype && t.dim() == 1 && t.shape()[0] == channels && t.is_contiguous();
}

// Weight or bias as cuDNN's scale or bias operand: converted to the parameter dtype (float32
// for 16-bit x), or, when undefined, `value` for every channel (cuDNN has no "no weight" mode).
Tensor channel_operand(const Tensor& t, DType dtype, int64_t channels, const Device& device, double value) {
  if (t.defined()) return dense(t, dtype);
  Tensor filled = make_tensor({channels}, dtype, device);
  cuda_backend().fill(filled, value);
  return filled;
}

// ---- pooling -----------------------------------------------------------------------------------

// Output size of a window sweep without ceil_mode (cuDNN's only rule); -1 when none fits.
int64_t floor_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  return in + 2 * pad < kernel ? -1 : (in + 2 * pad - kernel) / stride + 1;
}

bool set_4d(const TensorDescriptor& d, const Tensor& t, cudnnDataType_t dt) {
  const Shape& s = t.shape();
  return ok(cudnnSetTensor4dDescriptor(d.get(), CUDNN_TENSOR_NCHW, dt, static_cast<int>(s[0]), static_cast<int>(s[1]),
                                       static_cast<int>(s[2]), static_cast<int>(s[3])));
}

}  // namespace

bool cudnn_enabled() {
  const char* v = std::getenv("TESSERA_CUDNN");
  return v == nullptr || std::string_view(v) != "0";
}

bool cudnn_conv2d(ConvPass pass, const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p) {
  const std::optional<cudnnDataType_t> dt = data_type(x.dtype());
  if (!dt || !fits_cudnn(x) || !fits_cudnn(w) || !fits_cudnn(y)) return false;
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

bool cudnn_batch_norm_training(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                               const Tensor& running_var, double momentum, double eps, const Tensor& y,
                               const Tensor& save_mean, const Tensor& save_invstd) {
  const std::optional<cudnnDataType_t> dt = data_type(x.dtype());
  // !(eps >= min) also declines a NaN eps.
  if (!dt || !(eps >= CUDNN_BN_MIN_EPSILON) || !y.is_contiguous()) return false;
  BatchNormDescriptors d;
  if (!set_batch_norm_descriptors(d, x, *dt)) return false;
  const DType param = stats_dtype(x.dtype());
  const bool running = running_mean.defined();
  if (running_var.defined() != running) return false;
  if (running && !(is_channel_tensor(running_mean, param, d.c) && is_channel_tensor(running_var, param, d.c)))
    return false;
  if (!is_channel_tensor(save_mean, param, d.c) || !is_channel_tensor(save_invstd, param, d.c)) return false;

  const Tensor scale = channel_operand(weight, param, d.c, x.device(), 1.0);
  const Tensor shift = channel_operand(bias, param, d.c, x.device(), 0.0);
  const Scaling scaling(*dt);
  BorrowedHandle handle(x.device().index);
  // cuDNN's running update is ours: stat = (1 - factor) * stat + factor * batch value, the
  // variance's batch value unbiased (N * S / (N * S - 1) times the one it normalizes with).
  const cudnnStatus_t st = cudnnBatchNormalizationForwardTraining(
      handle.get(), CUDNN_BATCHNORM_SPATIAL, scaling.one(), scaling.zero(), d.x.get(), x.raw_data(), d.x.get(),
      y.raw_data(), d.param.get(), scale.raw_data(), shift.raw_data(), momentum,
      running ? running_mean.raw_data() : nullptr, running ? running_var.raw_data() : nullptr, eps,
      save_mean.raw_data(), save_invstd.raw_data());
  if (not_supported(st)) return false;
  TS_CUDNN_CHECK(st, "batch_norm (cudnnBatchNormalizationForwardTraining)");
  return true;
}

bool cudnn_batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& save_mean,
                               const Tensor& save_invstd, const Tensor& grad_x, const Tensor& grad_weight,
                               const Tensor& grad_bias) {
  const std::optional<cudnnDataType_t> dt = data_type(x.dtype());
  if (!dt || !grad_x.defined() || !grad_x.is_contiguous() || !grad_y.is_contiguous() ||
      grad_y.dtype() != x.dtype() || grad_y.shape() != x.shape())
    return false;
  BatchNormDescriptors d;
  if (!set_batch_norm_descriptors(d, x, *dt)) return false;
  const DType param = stats_dtype(x.dtype());
  if (!is_channel_tensor(save_mean, param, d.c) || !is_channel_tensor(save_invstd, param, d.c)) return false;

  const Tensor scale = channel_operand(weight, param, d.c, x.device(), 1.0);
  // cuDNN writes both parameter gradients, in the parameter dtype: straight into the caller's
  // when they have it, else into scratch (converted afterwards when the caller wants them).
  const auto writes_direct = [&](const Tensor& g) { return is_channel_tensor(g, param, d.c); };
  const Tensor gw = writes_direct(grad_weight) ? grad_weight : make_tensor({d.c}, param, x.device());
  const Tensor gb = writes_direct(grad_bias) ? grad_bias : make_tensor({d.c}, param, x.device());
  const Scaling scaling(*dt);
  BorrowedHandle handle(x.device().index);
  // Given the saved statistics, cuDNN uses them instead of recomputing the batch's (cudnn_ops.h:
  // "optionally cached intermediate results from forward pass"), so epsilon only has to be
  // valid: the backend interface does not carry the forward's. The CUDA tests use a large eps,
  // which a cuDNN that read it would get visibly wrong.
  const cudnnStatus_t st = cudnnBatchNormalizationBackward(
      handle.get(), CUDNN_BATCHNORM_SPATIAL, scaling.one(), scaling.zero(), scaling.one(), scaling.zero(), d.x.get(),
      x.raw_data(), d.x.get(), grad_y.raw_data(), d.x.get(), grad_x.raw_data(), d.param.get(), scale.raw_data(),
      gw.raw_data(), gb.raw_data(), CUDNN_BN_MIN_EPSILON, save_mean.raw_data(), save_invstd.raw_data());
  if (not_supported(st)) return false;
  TS_CUDNN_CHECK(st, "batch_norm_backward (cudnnBatchNormalizationBackward)");
  if (grad_weight.defined() && !writes_direct(grad_weight)) cuda_backend().copy(gw, grad_weight);
  if (grad_bias.defined() && !writes_direct(grad_bias)) cuda_backend().copy(gb, grad_bias);
  return true;
}

bool cudnn_avg_pool2d(PoolPass pass, const Tensor& x, const Tensor& y, const Pool2dParams& p) {
  const std::optional<cudnnDataType_t> dt = data_type(x.dtype());
  if (!dt || y.dtype() != x.dtype() || x.dim() != 4 || y.dim() != 4 || x.numel() == 0 || !x.is_contiguous() ||
      !y.is_contiguous() || !fits_cudnn(x) || !fits_cudnn(y))
    return false;
  if (p.dilation_h != 1 || p.dilation_w != 1 || !fits_int(p.kernel_h) || !fits_int(p.kernel_w) ||
      !fits_int(p.stride_h) || !fits_int(p.stride_w) || !fits_int(p.pad_h) || !fits_int(p.pad_w))
    return false;
  const Shape &xs = x.shape(), &ys = y.shape();
  if (ys[0] != xs[0] || ys[1] != xs[1] || ys[2] != floor_output_size(xs[2], p.kernel_h, p.stride_h, p.pad_h) ||
      ys[3] != floor_output_size(xs[3], p.kernel_w, p.stride_w, p.pad_w))
    return false;
  // With padding at most half the kernel (the op layer's rule) every window holds an input
  // element, so no divisor is zero; our kernels define the other case (0).
  if (2 * p.pad_h > p.kernel_h || 2 * p.pad_w > p.kernel_w) return false;

  TensorDescriptor xd, yd;
  PoolingDescriptor pd;
  const cudnnPoolingMode_t mode =
      p.count_include_pad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
  const auto i32 = [](int64_t v) { return static_cast<int>(v); };
  if (!set_4d(xd, x, *dt) || !set_4d(yd, y, *dt) ||
      !ok(cudnnSetPooling2dDescriptor(pd.get(), mode, CUDNN_PROPAGATE_NAN, i32(p.kernel_h), i32(p.kernel_w),
                                      i32(p.pad_h), i32(p.pad_w), i32(p.stride_h), i32(p.stride_w))))
    return false;
  std::array<int, 4> out{};
  if (!ok(cudnnGetPooling2dForwardOutputDim(pd.get(), xd.get(), &out[0], &out[1], &out[2], &out[3])) ||
      out[0] != ys[0] || out[1] != ys[1] || out[2] != ys[2] || out[3] != ys[3])
    return false;

  const Scaling scaling(*dt);
  BorrowedHandle handle(x.device().index);
  cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
  if (pass == PoolPass::Forward) {
    st = cudnnPoolingForward(handle.get(), pd.get(), scaling.one(), xd.get(), x.raw_data(), scaling.zero(), yd.get(),
                             y.raw_data());
  } else {
    // An average's gradient depends on neither the forward's input nor its output, which cuDNN
    // still takes: the gradient buffers of the same shapes stand in for them, unread.
    st = cudnnPoolingBackward(handle.get(), pd.get(), scaling.one(), yd.get(), y.raw_data(), yd.get(), y.raw_data(),
                              xd.get(), x.raw_data(), scaling.zero(), xd.get(), x.raw_data());
  }
  if (not_supported(st)) return false;
  TS_CUDNN_CHECK(st, pass == PoolPass::Forward ? "avg_pool2d (cudnnPoolingForward)"
                                               : "avg_pool2d_backward (cudnnPoolingBackward)");
  return true;
}

}  // namespace ts::cuda_detail
#endif
