#include "tessera/nn/module.h"

#include <cxxabi.h>

#include <cstdlib>
#include <sstream>
#include <typeinfo>
#include <unordered_set>

#include "tessera/autograd.h"
#include "tessera/error.h"

namespace ts::nn {

namespace {

std::string demangle(const char* mangled) {
  int status = 0;
  char* out = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = (status == 0 && out) ? out : mangled;
  std::free(out);
  // The bare class name, as PyTorch prints type(self).__name__: "Linear", not
  // "ts::nn::Linear" or "(anonymous namespace)::Net" (template arguments are kept whole).
  const size_t scope = name.rfind("::", name.find('<'));
  return scope == std::string::npos ? name : name.substr(scope + 2);
}

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

/// Points `dst`'s handle at `src`'s data (torch's set_data): every alias of `dst` — module
/// members, optimizer parameter lists — sees the new storage, dtype and device.
void set_data(const Tensor& dst, const Tensor& src) {
  TensorImpl& d = dst.impl();
  d.storage = src.storage();
  d.offset = src.storage_offset();
  d.shape = src.shape();
  d.strides = src.strides();
  d.dtype = src.dtype();
  d.is_view = false;
}

std::string with_thousands(int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  const int64_t len = static_cast<int64_t>(digits.size());
  for (int64_t i = 0; i < len; ++i) {
    if (i > 0 && (len - i) % 3 == 0) out += ',';
    out += digits[static_cast<size_t>(i)];
  }
  return out;
}

}  // namespace

Module::Module(std::string type_name) : name_(std::move(type_name)) {}

const std::string& Module::name() const {
  // typeid(*this) is only the most-derived type once construction has finished, so the
  // default name is resolved lazily.
  if (name_.empty()) name_ = demangle(typeid(*this).name());
  return name_;
}

// ---- registration --------------------------------------------------------------------------

void Module::check_new_name(const std::string& n, const char* what) const {
  TS_CHECK(!n.empty(), "{}: the name must not be empty (in {})", what, name());
  TS_CHECK(n.find('.') == std::string::npos, "{}: name '{}' must not contain '.' (in {})", what, n, name());
  auto taken = [&](const auto& list) {
    for (const auto& item : list)
      if (item.first == n) return true;
    return false;
  };
  TS_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_),
           "{}: '{}' is already registered in {} as a parameter, buffer or submodule", what, n, name());
}

Tensor Module::register_parameter(const std::string& n, Tensor tensor, bool requires_grad) {
  check_new_name(n, "register_parameter");
  TS_CHECK(tensor.defined(), "register_parameter: parameter '{}' of {} is an undefined tensor", n, name());
  TS_CHECK(!requires_grad || tensor.is_floating_point(),
           "register_parameter: parameter '{}' of {} has dtype {}; only floating-point tensors can require grad", n,
           name(), dtype_name(tensor.dtype()));
  if (!tensor.is_leaf()) tensor = tensor.detach();
  tensor.requires_grad_(requires_grad);
  params_.emplace_back(n, tensor);
  return tensor;
}

Tensor Module::register_buffer(const std::string& n, Tensor tensor) {
  check_new_name(n, "register_buffer");
  TS_CHECK(tensor.defined(), "register_buffer: buffer '{}' of {} is an undefined tensor", n, name());
  if (tensor.requires_grad()) tensor = tensor.detach();
  buffers_.emplace_back(n, tensor);
  return tensor;
}

void Module::register_module_impl(const std::string& n, std::shared_ptr<Module> module) {
  check_new_name(n, "register_module");
  TS_CHECK(module != nullptr, "register_module: submodule '{}' of {} is null", n, name());
  TS_CHECK(module.get() != this, "register_module: {} cannot be registered as its own child '{}'", name(), n);
  children_.emplace_back(n, std::move(module));
}

void Module::replace_module_impl(const std::string& n, std::shared_ptr<Module> module) {
  TS_CHECK(module != nullptr, "replace_module: the replacement for '{}' in {} is null", n, name());
  for (size_t i = 0; i < children_.size(); ++i) {
    if (children_[i].first == n) {
      on_replace_module(i, module);
      children_[i].second = std::move(module);
      return;
    }
  }
  TS_ERROR("replace_module: {} has no submodule named '{}'", name(), n);
}

// ---- traversal -------------------------------------------------------------------------------

void Module::collect_named(NamedTensors& out, const std::string& prefix, bool params, bool recurse) const {
  for (const auto& [n, t] : params ? params_ : buffers_) out.emplace_back(join_name(prefix, n), t);
  if (!recurse) return;
  for (const auto& [n, child] : children_) child->collect_named(out, join_name(prefix, n), params, true);
}

namespace {
/// A tensor registered twice (tied weights) is listed once, under its first name, so
/// optimizers do not update it twice.
NamedTensors dedupe(NamedTensors in) {
  std::unordered_set<const TensorImpl*> seen;
  NamedTensors out;
  out.reserve(in.size());
  for (auto& item : in)
    if (seen.insert(item.second.unsafe_impl()).second) out.push_back(std::move(item));
  return out;
}
}  // namespace

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect_named(out, {}, true, recurse);
  return dedupe(std::move(out));
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect_named(out, {}, false, recurse);
  return dedupe(std::move(out));
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  out.reserve(children_.size());
  for (const auto& [n, c] : children_) out.push_back(c);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules(const std::string& prefix,
                                                                                   bool include_self) {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  if (include_self) {
    std::shared_ptr<Module> self = weak_from_this().lock();
    TS_CHECK(self != nullptr,
             "modules: {} is not owned by a std::shared_ptr, so it cannot list itself; create it with "
             "std::make_shared or pass include_self = false",
             name());
    out.emplace_back(prefix, std::move(self));
  }
  for (const auto& [n, child] : children_) {
    auto sub = child->named_modules(join_name(prefix, n), true);
    out.insert(out.end(), std::make_move_iterator(sub.begin()), std::make_move_iterator(sub.end()));
  }
  return out;
}

std::vector<std::shared_ptr<Module>> Module::modules(bool include_self) {
  std::vector<std::shared_ptr<Module>> out;
  for (auto& [n, m] : named_modules({}, include_self)) out.push_back(std::move(m));
  return out;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (const auto& [n, child] : children_) child->apply(fn);
  fn(*this);
}

int64_t Module::num_parameters(bool only_trainable) const {
  int64_t total = 0;
  for (const auto& p : parameters())
    if (!only_trainable || p.requires_grad()) total += p.numel();
  return total;
}

// ---- mode / conversion ---------------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (const auto& [n, child] : children_) child->train(on);
}

void Module::convert(const std::optional<Device>& device, const std::optional<DType>& dtype) {
  NoGradGuard no_grad;
  auto target = [&](const Tensor& t) {
    Tensor out = t.detach();
    if (dtype && t.is_floating_point()) out = out.to(*dtype);
    if (device) out = out.to(*device);
    return out;
  };
  auto needs = [&](const Tensor& t) {
    return (device && t.device() != *device) || (dtype && t.is_floating_point() && t.dtype() != *dtype);
  };
  for (const Tensor& p : parameters()) {
    Tensor g = p.grad();
    if (needs(p)) set_data(p, target(p));
    if (g.defined() && needs(g)) p.set_grad(target(g));
  }
  for (const Tensor& b : buffers())
    if (needs(b)) set_data(b, target(b));
}

void Module::to(Device device) { convert(device, std::nullopt); }
void Module::to(DType dtype) {
  TS_CHECK(ts::is_floating_point(dtype), "Module::to: {} can only be converted to a floating-point dtype, not {}",
           name(), dtype_name(dtype));
  convert(std::nullopt, dtype);
}
void Module::to(Device device, DType dtype) {
  TS_CHECK(ts::is_floating_point(dtype), "Module::to: {} can only be converted to a floating-point dtype, not {}",
           name(), dtype_name(dtype));
  convert(device, dtype);
}

void Module::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (const Tensor& p : parameters()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
    } else {
      g.zero_();
    }
  }
}

// ---- state -----------------------------------------------------------------------------

StateDict Module::state_dict() const {
  // PyTorch's order: each module's parameters, then its buffers, then its children.
  StateDict out;
  std::function<void(const Module&, const std::string&)> visit = [&](const Module& m, const std::string& prefix) {
    for (const auto& [n, t] : m.params_) out.insert(join_name(prefix, n), t.detach());
    for (const auto& [n, t] : m.buffers_) out.insert(join_name(prefix, n), t.detach());
    for (const auto& [n, child] : m.children_) visit(*child, join_name(prefix, n));
  };
  visit(*this, {});
  return out;
}

LoadStateDictResult Module::load_state_dict(const StateDict& dict, bool strict) {
  // Not deduplicated: tied weights appear in state_dict() under every name, so every name
  // is expected back.
  NamedTensors targets;
  collect_named(targets, {}, true, true);
  collect_named(targets, {}, false, true);

  LoadStateDictResult result;
  std::vector<std::string> mismatches;
  std::unordered_set<std::string> known;
  for (const auto& [key, dst] : targets) {
    known.insert(key);
    if (!dict.contains(key)) {
      result.missing_keys.push_back(key);
      continue;
    }
    const Tensor& src = dict.at(key);
    if (!src.defined()) {
      mismatches.push_back(fmt::format("{}: the state dict holds an undefined tensor", key));
    } else if (src.shape() != dst.shape()) {
      mismatches.push_back(
          fmt::format("{}: shape {} in the state dict, {} in the model", key, shape_str(src.shape()),
                      shape_str(dst.shape())));
    }
  }
  for (const auto& [key, t] : dict)
    if (!known.count(key)) result.unexpected_keys.push_back(key);

  const bool key_errors = strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty());
  if (key_errors || !mismatches.empty()) {
    std::string msg = fmt::format("load_state_dict: error(s) loading the state dict into {}:", name());
    if (strict && !result.missing_keys.empty())
      msg += fmt::format("\n  missing keys ({}): {}", result.missing_keys.size(), fmt::join(result.missing_keys, ", "));
    if (strict && !result.unexpected_keys.empty())
      msg += fmt::format("\n  unexpected keys ({}): {}", result.unexpected_keys.size(),
                         fmt::join(result.unexpected_keys, ", "));
    if (!mismatches.empty())
      msg += fmt::format("\n  shape mismatches ({}): {}", mismatches.size(), fmt::join(mismatches, "; "));
    TS_ERROR("{}", msg);
  }

  // Everything was validated above, so a failed load never leaves the model half-written.
  NoGradGuard no_grad;
  for (const auto& [key, dst] : targets) {
    if (!dict.contains(key)) continue;
    Tensor d = dst;
    d.copy_(dict.at(key));
  }
  return result;
}

// ---- printing --------------------------------------------------------------------------

void Module::pretty_print(std::ostream& os) const { os << name() << '(' << extra_repr() << ')'; }

void Module::print_tree(std::ostream& os, int indent) const {
  const std::string pad(static_cast<size_t>(indent) + 2, ' ');
  const int64_t count = num_parameters();
  if (children_.empty()) {
    pretty_print(os);
    if (count > 0) os << "  # " << with_thousands(count) << " params";
    return;
  }
  os << name() << '(';
  if (const std::string extra = extra_repr(); !extra.empty()) os << '\n' << pad << extra;
  for (const auto& [n, child] : children_) {
    os << '\n' << pad << '(' << n << "): ";
    child->print_tree(os, indent + 2);
  }
  os << '\n' << std::string(static_cast<size_t>(indent), ' ') << ')';
  if (count > 0) os << "  # " << with_thousands(count) << " params";
}

std::string Module::str() const {
  std::ostringstream os;
  print_tree(os, 0);
  const int64_t trainable = num_parameters(true);
  const int64_t total = num_parameters();
  if (trainable != total) os << " (" << with_thousands(trainable) << " trainable)";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.str(); }

}  // namespace ts::nn
