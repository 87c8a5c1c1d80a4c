#include "optim/saved_state.h"

#include <cmath>
#include <utility>
#include <vector>

namespace ts::optim::detail {

SavedStateReader::SavedStateReader(std::string who, const Tensor& param, const std::map<std::string, Tensor>& saved,
                                   std::string prefix)
    : who_(std::move(who)), param_(param), saved_(saved), prefix_(std::move(prefix)) {}

Tensor SavedStateReader::tensor(const std::string& name) {
  auto it = saved_.find(name);
  TS_CHECK(it != saved_.end(), "{}: missing key '{}{}' (the parameter has state, so all of it must be present)", who_,
           prefix_, name);
  const Tensor& t = it->second;
  TS_CHECK(t.defined(), "{}: '{}{}' is an undefined tensor", who_, prefix_, name);
  TS_CHECK(t.shape() == param_.shape(), "{}: '{}{}' has shape {} but the parameter has shape {}", who_, prefix_, name,
           shape_str(t.shape()), shape_str(param_.shape()));
  TS_CHECK(t.is_floating_point(), "{}: '{}{}' has dtype {}; expected a floating-point tensor", who_, prefix_, name,
           dtype_name(t.dtype()));
  used_.insert(name);
  // A fresh contiguous copy: the optimizer must not alias the caller's tensors.
  Tensor copy = make_tensor(param_.shape(), param_.dtype(), param_.device());
  copy.copy_(t.detach());
  return copy;
}

int64_t SavedStateReader::count(const std::string& name) {
  auto it = saved_.find(name);
  TS_CHECK(it != saved_.end(), "{}: missing key '{}{}' (the parameter has state, so all of it must be present)", who_,
           prefix_, name);
  const Tensor& t = it->second;
  TS_CHECK(t.defined() && t.numel() == 1, "{}: '{}{}' must hold one value but has shape {}", who_, prefix_, name,
           t.defined() ? shape_str(t.shape()) : std::string("(undefined)"));
  const double v = t.item<double>();
  TS_CHECK(std::isfinite(v) && v >= 0 && v == std::floor(v) && v < 9.0e15,
           "{}: '{}{}' must be a non-negative whole step count but is {}", who_, prefix_, name, v);
  used_.insert(name);
  return static_cast<int64_t>(v);
}

void SavedStateReader::finish() const {
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : saved_)
    if (used_.count(name) == 0) unexpected.push_back(prefix_ + name);
  TS_CHECK(unexpected.empty(), "{}: unexpected key(s) {} (state saved by a different optimizer or options?)", who_,
           fmt::join(unexpected, ", "));
}

}  // namespace ts::optim::detail
