#pragma once
/// The CPU thread pool (OpenMP underneath). Thread count: TESSERA_NUM_THREADS, else all cores.
#include <cstdint>
#include <functional>

namespace ts {

void set_num_threads(int n);
int get_num_threads();

/// Calls fn(begin, end) on disjoint chunks covering [begin, end), in parallel when the range
/// holds more than `grain` items. Runs inline inside an existing parallel region.
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace ts
