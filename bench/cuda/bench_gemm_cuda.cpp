// GEMM on the GPU: ts::matmul against cuBLAS called directly (cublasGemmEx) on the same device
// buffers, for float32 (TF32 off and on) and bfloat16, square sizes 1024..8192 and GPT-2's MLP
// projection (8192 tokens x 768 -> 3072). Timed with CUDA events on the current stream; prints
// a markdown table of TFLOP/s and the ratio, and checks that both results agree.
//
//   bench_gemm_cuda [--min-time SECONDS]
#include <tessera/tessera.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../bench_common.h"
#include "cuda_bench_util.h"

namespace {

const char* kUsage = R"(Usage: bench_gemm_cuda [--min-time SECONDS]
TFLOP/s of ts::matmul on CUDA against cublasGemmEx on the same buffers: float32 with TF32 off
and on, and bfloat16, for (M x K) @ (K x N) with M = K = N in 1024, 2048, 4096, 8192 and the
GPT-2 MLP shape M = 8192, K = 768, N = 3072. Each cell is the median of 5 timed batches of
calls (CUDA events), each batch about SECONDS / 5 long (default 0.5). Prints a markdown table.
Exits 0 printing "no CUDA device" on a machine without a usable GPU.
)";

struct Config {
  const char* name;
  ts::DType dtype;
  bool tf32;
};

struct Shape3 {
  int64_t m, k, n;
};

void check_cublas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "%s failed: %s\n", what, cublasGetStatusString(st));
    std::exit(1);
  }
}

// max |a - b| / max |b| over two same-shape device tensors.
double max_rel_diff(const ts::Tensor& a, const ts::Tensor& b) {
  const auto va = a.to(ts::Device()).to_vector<double>(), vb = b.to(ts::Device()).to_vector<double>();
  double err = 0, scale = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    err = std::max(err, std::abs(va[i] - vb[i]));
    scale = std::max(scale, std::abs(vb[i]));
  }
  return scale > 0 ? err / scale : err;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Flags flags = bench::parse_flags(argc, argv, kUsage);
  if (!bench::print_cuda_device()) return 0;
  const ts::Device gpu(ts::DeviceType::CUDA, 0);
  const ts::cuda::Stream stream = ts::cuda::Stream::current(0);
  cublasHandle_t handle = nullptr;
  check_cublas(cublasCreate(&handle), "cublasCreate");
  check_cublas(cublasSetStream(handle, static_cast<cudaStream_t>(stream.handle())), "cublasSetStream");

  const Config configs[] = {{"f32", ts::kFloat32, false}, {"f32 (TF32)", ts::kFloat32, true},
                            {"bf16", ts::kBFloat16, false}};
  const Shape3 shapes[] = {{1024, 1024, 1024}, {2048, 2048, 2048}, {4096, 4096, 4096}, {8192, 8192, 8192},
                           {8192, 768, 3072}};
  std::printf("| dtype | M x K x N | ts::matmul TFLOP/s | cuBLAS TFLOP/s | ts / cuBLAS |\n");
  std::printf("|---|---|---:|---:|---:|\n");
  int status = 0;
  for (const Config& cfg : configs) {
    ts::cuda::set_allow_tf32(cfg.tf32);
    for (const Shape3& s : shapes) {
      const ts::Tensor a = ts::randn({s.m, s.k}, ts::TensorOptions(ts::kFloat32).with_device(gpu)).to(cfg.dtype);
      const ts::Tensor b = ts::randn({s.k, s.n}, ts::TensorOptions(ts::kFloat32).with_device(gpu)).to(cfg.dtype);
      ts::Tensor c_ts = ts::matmul(a, b);
      const ts::Tensor c_ref = ts::empty({s.m, s.n}, ts::TensorOptions(cfg.dtype).with_device(gpu));

      // Row-major C = A B is column-major C^T = B^T A^T: cuBLAS sees b first.
      const bool bf16 = cfg.dtype == ts::kBFloat16;
      const cudaDataType_t type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
      const cublasComputeType_t compute = cfg.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      const float alpha = 1.0f, beta = 0.0f;
      const int m = static_cast<int>(s.m), k = static_cast<int>(s.k), n = static_cast<int>(s.n);
      const auto run_cublas = [&] {
        check_cublas(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &alpha, b.raw_data(), type, n,
                                  a.raw_data(), type, k, &beta, c_ref.raw_data(), type, n, compute,
                                  CUBLAS_GEMM_DEFAULT),
                     "cublasGemmEx");
      };
      const double ms_ref = bench::median_ms(run_cublas, stream, flags.min_time);
      const double ms_ts = bench::median_ms([&] { c_ts = ts::matmul(a, b); }, stream, flags.min_time);

      const double diff = max_rel_diff(c_ts, c_ref);
      const double tol = bf16 ? 2e-2 : cfg.tf32 ? 1e-2 : 1e-4;
      const bool ok = diff <= tol;
      if (!ok) status = 1;
      const double flop = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.k) * static_cast<double>(s.n);
      const double tf_ts = flop / (ms_ts * 1e-3) * 1e-12, tf_ref = flop / (ms_ref * 1e-3) * 1e-12;
      std::printf("| %s | %lld x %lld x %lld | %.1f | %.1f | %.2f%s |\n", cfg.name, static_cast<long long>(s.m),
                  static_cast<long long>(s.k), static_cast<long long>(s.n), tf_ts, tf_ref, tf_ts / tf_ref,
                  ok ? "" : " (RESULTS DIFFER)");
      if (!ok) std::fprintf(stderr, "max |ts - cuBLAS| / max |cuBLAS| = %g\n", diff);
      std::fflush(stdout);
    }
  }
  ts::cuda::set_allow_tf32(false);
  cublasDestroy(handle);
  return status;
}
