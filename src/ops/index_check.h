#pragma once
// Index validation shared by the indexing ops (indexing.cpp, embedding.cpp); internal.
#include <string>
#include <utility>

#include "tessera/tensor.h"

namespace ts::ops {

/// {min, max} of a non-empty Int64 tensor; a direct scan for CPU tensors (no reductions or
/// allocations on the hot path of small gathers), reductions elsewhere.
std::pair<int64_t, int64_t> index_min_max(const Tensor& index);

/// Throws naming `op` unless every index lies in [0, size); reports the most extreme bad value
/// and the valid range. `what` names the indexed thing, e.g. "dimension 1 of size 4".
void check_index_range(const char* op, const Tensor& index, int64_t size, const std::string& what);

}  // namespace ts::ops
