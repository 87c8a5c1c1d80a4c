#pragma once
// What the CUDA benchmarks (bench/cuda/) share: the device check and banner, and timing with
// CUDA events recorded on a stream around the calls, medians over repeated measurements.
#include <tessera/tessera.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace bench {

/// On a machine without a usable GPU prints "no CUDA device (reason)" and returns false; else
/// prints "device: NAME" and a blank line and returns true.
inline bool print_cuda_device() {
  if (!ts::cuda::is_available()) {
    std::printf("no CUDA device (%s)\n", ts::cuda::unavailable_reason().c_str());
    return false;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) std::printf("device: %s\n\n", prop.name);
  return true;
}

/// Milliseconds between two events recorded on `stream` around `reps` back-to-back calls of `fn`.
template <typename Fn>
double elapsed_ms(Fn& fn, const ts::cuda::Stream& stream, ts::cuda::Event& start, ts::cuda::Event& stop,
                  int reps = 1) {
  start.record(stream);
  for (int i = 0; i < reps; ++i) fn();
  stop.record(stream);
  stop.synchronize();
  return static_cast<double>(start.elapsed_ms(stop));
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Median milliseconds per call of `fn` on `stream`: 3 warm-up calls (allocator, cuBLASLt
/// heuristics, clocks), then 5 timed batches of calls, each about min_time / 5 seconds long.
template <typename Fn> double median_ms(Fn&& fn, const ts::cuda::Stream& stream, double min_time) {
  ts::cuda::Event start, stop;
  for (int i = 0; i < 3; ++i) fn();
  const double one = std::max(1e-3, elapsed_ms(fn, stream, start, stop));
  const int reps = std::max(3, static_cast<int>(min_time * 1e3 / 5 / one));
  std::vector<double> ms;
  for (int trial = 0; trial < 5; ++trial) ms.push_back(elapsed_ms(fn, stream, start, stop, reps) / reps);
  return median(ms);
}

/// Median milliseconds of `iters` single calls of `fn`, each timed on the current stream, after
/// 3 warm-up calls.
template <typename Fn> double median_ms(Fn&& fn, int iters) {
  const ts::cuda::Stream stream = ts::cuda::Stream::current();
  ts::cuda::Event start, stop;
  for (int i = 0; i < 3; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) ms.push_back(elapsed_ms(fn, stream, start, stop));
  return median(ms);
}

}  // namespace bench
