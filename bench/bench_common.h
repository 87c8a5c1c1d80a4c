#pragma once
// Small helpers shared by the C++ benchmarks: flag parsing, robust timing, and the --device
// handling of the training-step benchmarks.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <tessera/cuda.h>
#include <tessera/device.h>
#include <tessera/error.h>

namespace bench {

struct Flags {
  int threads = 0;        // 0: keep Tessera's default
  double min_time = 0.5;  // seconds of timed repetitions per measurement
};

/// Parses --threads N and --min-time S (also --flag=value); prints `usage` for --help.
inline Flags parse_flags(int argc, char** argv, const char* usage) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
    if (auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "%s needs a value\n\n%s", flag.c_str(), usage);
      std::exit(2);
    }
    char* end = nullptr;
    if (flag == "--threads") {
      const long v = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || v < 1) {
        std::fprintf(stderr, "--threads expects a positive integer, got '%s'\n", value.c_str());
        std::exit(2);
      }
      f.threads = static_cast<int>(v);
    } else if (flag == "--min-time") {
      f.min_time = std::strtod(value.c_str(), &end);
      if (*end != '\0' || !(f.min_time > 0)) {
        std::fprintf(stderr, "--min-time expects a positive number of seconds, got '%s'\n", value.c_str());
        std::exit(2);
      }
    } else {
      std::fprintf(stderr, "unknown option '%s'\n\n%s", flag.c_str(), usage);
      std::exit(2);
    }
  }
  return f;
}

/// Median seconds per call of `fn`: two warm-up calls, then at least 5 timed calls and
/// at least `min_time` seconds in total.
template <typename Fn>
double time_median(Fn&& fn, double min_time) {
  using Clock = std::chrono::steady_clock;
  fn();
  fn();
  std::vector<double> times;
  double total = 0;
  while (times.size() < 5 || total < min_time) {
    const auto t0 = Clock::now();
    fn();
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    times.push_back(dt);
    total += dt;
  }
  std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2), times.end());
  return times[times.size() / 2];
}

/// The device a --device value names ("cpu", "cuda", "cuda:N"), checked usable: a CUDA device
/// needs a CUDA build and a GPU (ts::Error with ts::cuda::unavailable_reason() otherwise).
/// Sets TF32 matmul/convolution to `tf32` there.
inline ts::Device select_device(const std::string& spec, bool tf32) {
  const ts::Device device(spec);  // ts::Error for anything but cpu, cuda, cuda:N
  if (device.is_cuda()) {
    if (!ts::cuda::is_available())
      throw ts::Error(fmt::format("--device {}: CUDA is not available: {}", spec, ts::cuda::unavailable_reason()));
    if (device.index >= ts::cuda::device_count())
      throw ts::Error(fmt::format("--device {}: there is no CUDA device {} ({} visible)", spec, device.index,
                                  ts::cuda::device_count()));
    ts::cuda::set_allow_tf32(tf32);
  } else if (tf32) {
    std::fprintf(stderr, "note: --tf32 only affects CUDA devices; it is ignored on the CPU\n");
  }
  return device;
}

/// Waits for the work queued on `device` (nothing to wait for on the CPU).
inline void sync(ts::Device device) {
  if (device.is_cuda()) ts::cuda::synchronize(device.index);
}

/// Median milliseconds of one call of `step`: `warmup` untimed calls, then `iters` timed ones.
/// On a GPU each timed call is bracketed by synchronize(), so it measures the queued work, not
/// only the launches.
template <typename Fn>
double median_step_ms(Fn&& step, int warmup, int iters, ts::Device device) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < warmup; ++i) step();
  sync(device);
  std::vector<double> ms;
  for (int i = 0; i < std::max(iters, 1); ++i) {
    sync(device);
    const auto t0 = Clock::now();
    step();
    sync(device);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

/// "# device ..." comment line for the step benchmarks: the GPU, TF32, and the caching
/// allocator's peak (since the last reset) when `device` is a GPU.
inline std::string device_comment(ts::Device device) {
  if (!device.is_cuda()) return fmt::format("# device {}", device.str());
  const auto stats = ts::cuda::memory_stats(device.index);
  return fmt::format("# device {}, TF32 {}, peak allocated {:.2f} GiB, peak reserved {:.2f} GiB", device.str(),
                     ts::cuda::allow_tf32() ? "on" : "off", static_cast<double>(stats.peak_allocated_bytes) / (1 << 30),
                     static_cast<double>(stats.peak_reserved_bytes) / (1 << 30));
}

}  // namespace bench
