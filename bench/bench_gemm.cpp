// f32 square GEMM: ts::matmul against Eigen's own GEMM (Eigen::MatrixXf, C.noalias() = A * B)
// on the same data and thread count. Prints the median GFLOP/s of each and their ratio.
//
//   bench_gemm [--threads N] [--min-time SECONDS]
#include <tessera/tessera.h>

#include <Eigen/Core>
#include <cmath>
#include <cstdio>

#include "bench_common.h"

namespace {

const char* kUsage = R"(Usage: bench_gemm [--threads N] [--min-time SECONDS]
f32 matmul of 256, 512 and 1024 square matrices: ts::matmul vs Eigen's GEMM (noalias product),
both with N threads (default: Tessera's default thread count). Reports median GFLOP/s.
)";

}  // namespace

int main(int argc, char** argv) {
  const bench::Flags flags = bench::parse_flags(argc, argv, kUsage);
  if (flags.threads > 0) ts::set_num_threads(flags.threads);
  const int threads = ts::get_num_threads();
  Eigen::setNbThreads(threads);
  std::printf("bench_gemm: f32, %d thread(s) for Tessera, %d for Eigen %d.%d.%d; median of >= %.2f s per cell\n",
              threads, Eigen::nbThreads(), EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION,
              flags.min_time);
  std::printf("%6s  %14s  %14s  %12s\n", "n", "ts GFLOP/s", "Eigen GFLOP/s", "ts / Eigen");

  int status = 0;
  for (const int n : {256, 512, 1024}) {
    Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n);
    Eigen::MatrixXf b = Eigen::MatrixXf::Random(n, n);
    Eigen::MatrixXf c(n, n);

    // The same memory seen row-major by Tessera holds A^T and B^T, so B^T @ A^T = (A B)^T,
    // whose row-major bytes equal Eigen's column-major A * B: the results compare directly.
    const ts::Tensor ta = ts::from_blob(a.data(), {n, n}, ts::kFloat32);
    const ts::Tensor tb = ts::from_blob(b.data(), {n, n}, ts::kFloat32);
    ts::Tensor tc;

    const double t_eigen = bench::time_median([&] { c.noalias() = a * b; }, flags.min_time);
    const double t_ts = bench::time_median([&] { tc = ts::matmul(tb, ta); }, flags.min_time);

    const float* got = tc.data_ptr<float>();
    double max_err = 0, max_ref = 0;
    for (int64_t i = 0; i < int64_t{n} * n; ++i) {
      max_err = std::max(max_err, static_cast<double>(std::abs(got[i] - c.data()[i])));
      max_ref = std::max(max_ref, static_cast<double>(std::abs(c.data()[i])));
    }
    const bool ok = max_err <= 1e-4 * max_ref * std::sqrt(static_cast<double>(n));
    if (!ok) status = 1;

    const double flop = 2.0 * n * n * n;
    const double g_ts = flop / t_ts * 1e-9, g_eigen = flop / t_eigen * 1e-9;
    std::printf("%6d  %14.1f  %14.1f  %12.2f%s\n", n, g_ts, g_eigen, g_ts / g_eigen,
                ok ? "" : "  RESULT MISMATCH");
    if (!ok) std::printf("        max |ts - Eigen| = %g (max |C| = %g)\n", max_err, max_ref);
  }
  return status;
}
