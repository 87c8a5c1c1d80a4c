#pragma once
/// Shapes and strides (in elements), and the shape arithmetic every op shares.
#include <cstdint>
#include <string>
#include <vector>

namespace ts {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

int64_t numel_of(const Shape& shape);
Strides contiguous_strides(const Shape& shape);
/// "[2, 3, 4]" — how shapes appear in error messages.
std::string shape_str(const Shape& shape);
/// Wraps a possibly negative `dim` into [0, ndim); throws naming `op` when out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
/// NumPy/PyTorch broadcasting of two shapes; throws naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
/// Normalizes a list of dims (empty means all dims) into a sorted, duplicate-free list.
std::vector<int64_t> wrap_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op);

}  // namespace ts
