#include "tessera/shape.h"

#include <algorithm>

#include "tessera/device.h"
#include "tessera/error.h"

namespace ts {

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

Strides contiguous_strides(const Shape& shape) {
  Strides st(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  TS_CHECK(dim >= lo && dim <= hi, "{}: dimension {} is out of range for a tensor of {} dims (expected [{}, {}])",
           op, dim, ndim, lo, hi);
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TS_CHECK(da == db || da == 1 || db == 1,
             "{}: shapes {} and {} cannot be broadcast together (dimension {}: {} vs {})", op, shape_str(a),
             shape_str(b), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> wrap_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (auto d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  TS_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), "{}: dim list [{}] repeats a dimension", op,
           fmt::join(dims, ", "));
  if (ndim == 0) out.clear();
  return out;
}

Device::Device(const std::string& spec) {
  std::string t = spec, idx;
  if (auto c = spec.find(':'); c != std::string::npos) {
    t = spec.substr(0, c);
    idx = spec.substr(c + 1);
  }
  if (t == "cpu") {
    type = DeviceType::CPU;
  } else if (t == "cuda") {
    type = DeviceType::CUDA;
  } else {
    TS_ERROR("Device: unknown device '{}' (expected 'cpu', 'cuda' or 'cuda:N')", spec);
  }
  if (!idx.empty()) {
    TS_CHECK(idx.find_first_not_of("0123456789") == std::string::npos && idx.size() < 6,
             "Device: bad device index in '{}'", spec);
    index = std::stoi(idx);
  }
}

std::string Device::str() const {
  return type == DeviceType::CPU ? std::string("cpu") : fmt::format("cuda:{}", index);
}

std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

}  // namespace ts
