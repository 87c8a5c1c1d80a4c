#include "tessera/parallel.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>

#include "tessera/error.h"

namespace ts {
namespace {

int initial_threads() {
  if (const char* env = std::getenv("TESSERA_NUM_THREADS")) {
    try {
      const int n = std::stoi(env);
      if (n > 0) return n;
    } catch (const std::exception&) {
    }
    TS_ERROR("TESSERA_NUM_THREADS='{}' is not a positive integer", env);
  }
  return omp_get_num_procs();
}

int& num_threads_ref() {
  static int n = [] {
    const int t = initial_threads();
    omp_set_num_threads(t);
    return t;
  }();
  return n;
}

}  // namespace

void set_num_threads(int n) {
  TS_CHECK(n > 0, "set_num_threads: expected a positive thread count, got {}", n);
  num_threads_ref() = n;
  omp_set_num_threads(n);
}

int get_num_threads() { return num_threads_ref(); }

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (begin >= end) return;
  const int64_t n = end - begin;
  const int threads = get_num_threads();
  if (n <= std::max<int64_t>(grain, 1) || threads == 1 || omp_in_parallel()) {
    fn(begin, end);
    return;
  }
  const int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / std::max<int64_t>(grain, 1));
  // Exceptions must not escape an OpenMP region: keep the first and rethrow after it.
  std::exception_ptr error;
  std::mutex error_mutex;
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t lo = begin + n * c / chunks, hi = begin + n * (c + 1) / chunks;
    try {
      fn(lo, hi);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace ts
