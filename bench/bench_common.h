#pragma once
// Small helpers shared by the C++ benchmarks: flag parsing and robust timing.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

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

}  // namespace bench
