// Batched GEMM on cuBLAS. Tessera's matrices are row-major and cuBLAS's column-major: a
// row-major (r, c) matrix with row stride ld is the column-major (c, r) matrix with leading
// dimension ld, its transpose. So out = a @ b runs as out^T = b^T @ a^T with the operands
// swapped, and nothing moves. Views that are column-major in Tessera's terms (a.t(), the
// transposes in matmul's backward) map to cuBLAS's transpose flag, also without a copy; only
// operands that are neither are made dense first.
//
// f64: cublasDgemmStridedBatched. f32: cublasGemmStridedBatchedEx, on TF32 tensor cores only
// when ts::cuda::set_allow_tf32 allows it. f16/bf16: cuBLASLt with float accumulation (its
// heuristic's algorithm is cached per problem), else cublasGemmStridedBatchedEx.
#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_tensor_args.h"

namespace ts {
namespace {

constexpr const char* kOp = "matmul";

// One (batch, rows, cols) operand as cuBLAS reads it.
struct Operand {
  const void* ptr = nullptr;
  bool transposed = false;  // column-major in Tessera's terms
  int64_t ld = 1;
  int64_t batch_stride = 0;
};

// How `t` maps to cuBLAS without a copy, or nullopt when it needs one. Mirrors the CPU
// backend's layout_of (cpu_matmul.cpp), plus the leading-dimension rules cuBLAS checks.
std::optional<Operand> as_operand(const Tensor& t) {
  const int64_t batch = t.shape()[0], rows = t.shape()[1], cols = t.shape()[2];
  const int64_t bs = t.strides()[0], rs = t.strides()[1], cs = t.strides()[2];
  if (batch > 1 && bs < 0) return std::nullopt;
  Operand o;
  o.ptr = t.raw_data();
  o.batch_stride = batch > 1 ? bs : 0;
  if ((cols == 1 || cs == 1) && (rows == 1 || rs >= cols)) {
    o.ld = rows == 1 ? cols : rs;
  } else if ((rows == 1 || rs == 1) && (cols == 1 || cs >= rows)) {
    o.transposed = true;
    o.ld = cols == 1 ? rows : cs;
  } else {
    return std::nullopt;
  }
  o.ld = std::max<int64_t>(o.ld, 1);
  return o;
}

// The problem in cuBLAS's column-major terms: C (m x n) = op(A) op(B), batched with strides.
struct Gemm {
  cublasOperation_t opa, opb;
  int64_t m, n, k, batch;
  const void* a;
  int64_t lda, stride_a;
  const void* b;
  int64_t ldb, stride_b;
  void* c;
  int64_t ldc, stride_c;
};

// out^T (N x M) = b^T (N x K) @ a^T (K x M): cuBLAS's A is our b and its B is our a.
Gemm make_gemm(const Operand& a, const Operand& b, const Tensor& out, int64_t k) {
  const int64_t m = out.shape()[1], n = out.shape()[2];
  return Gemm{b.transposed ? CUBLAS_OP_T : CUBLAS_OP_N,
              a.transposed ? CUBLAS_OP_T : CUBLAS_OP_N,
              n,
              m,
              k,
              out.shape()[0],
              b.ptr,
              b.ld,
              b.batch_stride,
              a.ptr,
              a.ld,
              a.batch_stride,
              out.raw_data(),
              n,
              m * n};
}

cudaDataType_t cuda_type(DType dt) { return cuda_detail::cuda_data_type(kOp, dt); }

// cublasGemmStridedBatchedEx_64 for f32 and 16-bit types (float compute and scalars).
void gemm_ex(cublasHandle_t handle, const Gemm& g, DType dt, cublasComputeType_t compute) {
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType_t t = cuda_type(dt);
  TS_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(handle, g.opa, g.opb, g.m, g.n, g.k, &alpha, g.a, t, g.lda, g.stride_a,
                                                g.b, t, g.ldb, g.stride_b, &beta, g.c, t, g.ldc, g.stride_c, g.batch,
                                                compute, CUBLAS_GEMM_DEFAULT),
                  "matmul (cublasGemmStridedBatchedEx)");
}

// ---- cuBLASLt for f16/bf16 ------------------------------------------------------------------

template <typename H, cublasStatus_t (*Destroy)(H)> class LtObject {
 public:
  LtObject() = default;
  ~LtObject() {
    if (h_ != nullptr) (void)Destroy(h_);
  }
  LtObject(const LtObject&) = delete;
  LtObject& operator=(const LtObject&) = delete;
  H* out() { return &h_; }
  H get() const { return h_; }

 private:
  H h_ = nullptr;
};
using LtDesc = LtObject<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using LtLayout = LtObject<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using LtPreference = LtObject<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

// Largest power of two (up to 256) dividing the address and, for batches, the byte stride
// between matrices: cuBLASLt's heuristic otherwise assumes 256-byte aligned operands, and views
// with an element offset are not.
uint32_t alignment(const void* ptr, int64_t batch_stride_bytes) {
  const auto v = reinterpret_cast<uintptr_t>(ptr) | static_cast<uintptr_t>(batch_stride_bytes);
  uint32_t a = 1;
  while (a < 256 && v % (2 * a) == 0) a *= 2;
  return a;
}

template <typename V> void set_attr(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t attr, V v) {
  TS_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, attr, &v, sizeof(v)), "matmul (cuBLASLt layout)");
}
template <typename V> void set_attr(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr, V v) {
  TS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, attr, &v, sizeof(v)), "matmul (cuBLASLt descriptor)");
}
template <typename V> void set_attr(cublasLtMatmulPreference_t p, cublasLtMatmulPreferenceAttributes_t attr, V v) {
  TS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(p, attr, &v, sizeof(v)), "matmul (cuBLASLt preference)");
}

// A column-major stored matrix (rows x cols, leading dimension ld), batched with a stride.
void make_layout(LtLayout& l, cudaDataType_t t, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                 int64_t stride) {
  TS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(l.out(), t, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld),
                  "matmul (cuBLASLt layout)");
  if (batch > 1) {
    set_attr(l.get(), CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, static_cast<int32_t>(batch));
    set_attr(l.get(), CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, stride);
  }
}

// The heuristic's pick for one problem (nullopt: cuBLASLt has none), keyed by everything the
// heuristic sees. Querying it costs more than a small GEMM, hence the cache.
using AlgoKey = std::array<int64_t, 18>;
std::mutex g_algo_mutex;
std::map<AlgoKey, std::optional<cublasLtMatmulAlgo_t>> g_algos;

// Runs `g` on cuBLASLt; false when cuBLASLt has no algorithm for it.
bool lt_matmul(int dev, cudaStream_t stream, const Gemm& g, DType dt) {
  if (g.batch > INT32_MAX) return false;
  const cudaDataType_t t = cuda_type(dt);
  const int64_t esize = static_cast<int64_t>(element_size(dt));
  size_t ws_bytes = 0;
  void* ws = cuda_detail::cublaslt_workspace(dev, &ws_bytes);
  cublasLtHandle_t lt = cuda_detail::cublaslt_handle(dev);

  LtDesc desc;
  TS_CUBLAS_CHECK(cublasLtMatmulDescCreate(desc.out(), CUBLAS_COMPUTE_32F, CUDA_R_32F), "matmul (cuBLASLt descriptor)");
  set_attr(desc.get(), CUBLASLT_MATMUL_DESC_TRANSA, static_cast<int32_t>(g.opa));
  set_attr(desc.get(), CUBLASLT_MATMUL_DESC_TRANSB, static_cast<int32_t>(g.opb));
  LtLayout la, lb, lc;
  const bool ta = g.opa == CUBLAS_OP_T, tb = g.opb == CUBLAS_OP_T;
  make_layout(la, t, ta ? g.k : g.m, ta ? g.m : g.k, g.lda, g.batch, g.stride_a);
  make_layout(lb, t, tb ? g.n : g.k, tb ? g.k : g.n, g.ldb, g.batch, g.stride_b);
  make_layout(lc, t, g.m, g.n, g.ldc, g.batch, g.stride_c);

  const bool batched = g.batch > 1;
  const uint32_t align_a = alignment(g.a, batched ? g.stride_a * esize : 0);
  const uint32_t align_b = alignment(g.b, batched ? g.stride_b * esize : 0);
  const uint32_t align_c = alignment(g.c, batched ? g.stride_c * esize : 0);
  const AlgoKey key{dev,      static_cast<int64_t>(dt), g.opa,    g.opb,   g.m,     g.n,
                    g.k,      g.batch,                  g.lda,    g.ldb,   g.ldc,   g.stride_a,
                    g.stride_b, g.stride_c,             align_a,  align_b, align_c, static_cast<int64_t>(ws_bytes)};
  std::optional<cublasLtMatmulAlgo_t> algo;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(g_algo_mutex);
    if (auto it = g_algos.find(key); it != g_algos.end()) {
      algo = it->second;
      cached = true;
    }
  }
  if (!cached) {
    LtPreference pref;
    TS_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(pref.out()), "matmul (cuBLASLt preference)");
    set_attr(pref.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, static_cast<uint64_t>(ws_bytes));
    set_attr(pref.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a);
    set_attr(pref.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b);
    set_attr(pref.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_c);
    set_attr(pref.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_c);
    // Split-K partial sums stay in float (never rounded to 16 bits between passes), so the result
    // is the float32 product rounded once, as on the CPU backend.
    set_attr(pref.get(), CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
             static_cast<uint32_t>(CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(lt, desc.get(), la.get(), lb.get(), lc.get(), lc.get(), pref.get(), 1, &result,
                                       &found);
    if (st == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS) algo = result.algo;
    std::lock_guard<std::mutex> lock(g_algo_mutex);
    g_algos.emplace(key, algo);
  }
  if (!algo) return false;
  const float alpha = 1.0f, beta = 0.0f;
  TS_CUBLAS_CHECK(cublasLtMatmul(lt, desc.get(), &alpha, g.a, la.get(), g.b, lb.get(), &beta, g.c, lc.get(), g.c,
                                 lc.get(), &*algo, ws, ws_bytes, stream),
                  "matmul (cublasLtMatmul)");
  return true;
}

}  // namespace

void CudaBackend::matmul(const Tensor& a_in, const Tensor& b_in, const Tensor& out) {
  const int dev = cuda_detail::common_device(kOp, {&a_in, &b_in, &out});
  cuda_detail::DeviceGuard guard(dev);
  TS_CHECK(a_in.dim() == 3 && b_in.dim() == 3 && out.dim() == 3,
           "{}: expected (B, M, K) @ (B, K, N) -> (B, M, N) but got shapes {}, {} and {}", kOp,
           shape_str(a_in.shape()), shape_str(b_in.shape()), shape_str(out.shape()));
  const int64_t batch = out.shape()[0], m = out.shape()[1], n = out.shape()[2], k = a_in.shape()[2];
  TS_CHECK(a_in.shape()[0] == batch && b_in.shape()[0] == batch && a_in.shape()[1] == m && b_in.shape()[1] == k &&
               b_in.shape()[2] == n,
           "{}: shapes {} @ {} -> {} do not match (B, M, K) @ (B, K, N) -> (B, M, N)", kOp, shape_str(a_in.shape()),
           shape_str(b_in.shape()), shape_str(out.shape()));
  const DType dt = out.dtype();
  TS_CHECK(a_in.dtype() == dt && b_in.dtype() == dt && is_floating_point(dt),
           "{}: expected floating-point operands of one dtype but got {}, {} and {}", kOp, dtype_name(a_in.dtype()),
           dtype_name(b_in.dtype()), dtype_name(dt));
  TS_CHECK(out.is_contiguous(), "{}: the output must be contiguous, got strides {}", kOp,
           fmt::join(out.strides(), ", "));
  if (out.numel() == 0) return;
  const cudaStream_t stream = cuda_detail::current_stream(dev);
  if (k == 0) {  // empty sums; zero bits are 0.0 in every float type
    TS_CUDA_CHECK(cudaMemsetAsync(out.raw_data(), 0, out.nbytes(), stream), kOp);
    return;
  }

  // Operands that cuBLAS cannot read in place (neither row- nor column-major) are made dense.
  auto operand = [&](const Tensor& t, Tensor& holder) {
    if (auto o = as_operand(t)) return *o;
    holder = cuda_detail::contiguous_copy(t, t.dtype());
    return *as_operand(holder);
  };
  Tensor a_dense, b_dense;
  const Gemm g = make_gemm(operand(a_in, a_dense), operand(b_in, b_dense), out, k);

  if (dt == DType::Float64) {
    const double alpha = 1.0, beta = 0.0;
    TS_CUBLAS_CHECK(cublasDgemmStridedBatched_64(cuda_detail::cublas_handle(dev), g.opa, g.opb, g.m, g.n, g.k, &alpha,
                                                 static_cast<const double*>(g.a), g.lda, g.stride_a,
                                                 static_cast<const double*>(g.b), g.ldb, g.stride_b, &beta,
                                                 static_cast<double*>(g.c), g.ldc, g.stride_c, g.batch),
                    "matmul (cublasDgemmStridedBatched)");
  } else if (dt == DType::Float32) {
    gemm_ex(cuda_detail::cublas_handle(dev), g, dt,
            cuda_detail::allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F);
  } else if (!lt_matmul(dev, stream, g, dt)) {
    gemm_ex(cuda_detail::cublas_handle(dev), g, dt, CUBLAS_COMPUTE_32F);
  }
}

}  // namespace ts
