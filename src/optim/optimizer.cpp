// The optimizer base: group bookkeeping and checks, the step loop, and the state dict layout
// shared by every optimizer.
#include "tessera/optim/optimizer.h"

#include <charconv>
#include <set>
#include <unordered_set>

#include "tessera/autograd.h"
#include "tessera/creation.h"

namespace ts::optim {

// ---- OptimizerParamGroup ------------------------------------------------------------------------

OptimizerParamGroup::OptimizerParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}

OptimizerParamGroup::OptimizerParamGroup(std::vector<Tensor> params, std::unique_ptr<OptimizerOptions> options)
    : params_(std::move(params)), options_(std::move(options)) {}

OptimizerParamGroup::OptimizerParamGroup(const OptimizerParamGroup& other)
    : params_(other.params_), options_(other.options_ ? other.options_->clone() : nullptr) {}

OptimizerParamGroup& OptimizerParamGroup::operator=(const OptimizerParamGroup& other) {
  if (this != &other) {
    params_ = other.params_;
    options_ = other.options_ ? other.options_->clone() : nullptr;
  }
  return *this;
}

OptimizerOptions& OptimizerParamGroup::options() {
  TS_CHECK(options_ != nullptr, "OptimizerParamGroup: the group has no options (add it to an optimizer first)");
  return *options_;
}

const OptimizerOptions& OptimizerParamGroup::options() const {
  TS_CHECK(options_ != nullptr, "OptimizerParamGroup: the group has no options (add it to an optimizer first)");
  return *options_;
}

// ---- Optimizer ----------------------------------------------------------------------------------

Optimizer::Optimizer(std::string name, std::vector<OptimizerParamGroup> groups,
                     std::unique_ptr<OptimizerOptions> defaults)
    : name_(std::move(name)), defaults_(std::move(defaults)) {
  defaults_->validate(name_);
  size_t total = 0;
  for (const auto& g : groups) total += g.params().size();
  TS_CHECK(total > 0, "{}: got an empty parameter list", name_);
  for (const auto& g : groups) add_param_group(g);
}

void Optimizer::check_group(const OptimizerParamGroup& group, size_t group_index) const {
  if (group.has_options()) {
    TS_CHECK(typeid(group.options()) == typeid(*defaults_), "{}: parameter group {} has {}; expected {}", name_,
             group_index, group.options().type_name(), defaults_->type_name());
    group.options().validate(fmt::format("{} (parameter group {})", name_, group_index));
  }
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& g : groups_)
    for (const auto& p : g.params()) seen.insert(p.unsafe_impl());
  for (size_t i = 0; i < group.params().size(); ++i) {
    const Tensor& p = group.params()[i];
    TS_CHECK(p.defined(), "{}: parameter {} of group {} is an undefined tensor", name_, i, group_index);
    TS_CHECK(p.is_floating_point(),
             "{}: parameter {} of group {} has dtype {}; only floating-point tensors can be optimized", name_, i,
             group_index, dtype_name(p.dtype()));
    TS_CHECK(p.requires_grad(),
             "{}: parameter {} of group {} (shape {}) does not require grad; call requires_grad_() on it or leave it "
             "out of the optimizer",
             name_, i, group_index, shape_str(p.shape()));
    TS_CHECK(p.is_leaf(),
             "{}: parameter {} of group {} (shape {}) is not a leaf tensor; can't optimize a non-leaf tensor", name_, i,
             group_index, shape_str(p.shape()));
    TS_CHECK(seen.insert(p.unsafe_impl()).second,
             "{}: parameter {} of group {} (shape {}) appears more than once; each parameter may be in one group only",
             name_, i, group_index, shape_str(p.shape()));
  }
}

void Optimizer::add_param_group(const OptimizerParamGroup& group) {
  check_group(group, groups_.size());
  OptimizerParamGroup g(group.params(), group.has_options() ? group.options().clone() : defaults_->clone());
  groups_.push_back(std::move(g));
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> all;
  for (const auto& g : groups_) all.insert(all.end(), g.params().begin(), g.params().end());
  return all;
}

size_t Optimizer::size() const {
  size_t n = 0;
  for (const auto& g : groups_) n += g.params().size();
  return n;
}

const ParamState* Optimizer::state(const Tensor& param) const {
  auto it = state_.find(param.unsafe_impl());
  return it == state_.end() ? nullptr : it->second.get();
}

Tensor Optimizer::step(const LossClosure& closure) {
  Tensor loss;
  if (closure) {
    AutoGradMode enable(true);
    loss = closure();
  }
  NoGradGuard no_grad;
  // Check every gradient first: a bad one must not leave the step half applied.
  size_t index = 0;
  for (const auto& group : groups_) {
    for (const Tensor& p : group.params()) {
      const Tensor grad = p.grad();
      if (grad.defined()) {
        TS_CHECK(grad.shape() == p.shape(),
                 "{}.step: the gradient of parameter {} has shape {} but the parameter has shape {}", name_, index,
                 shape_str(grad.shape()), shape_str(p.shape()));
        TS_CHECK(grad.dtype() == p.dtype(),
                 "{}.step: the gradient of parameter {} has dtype {} but the parameter has {}", name_, index,
                 dtype_name(grad.dtype()), dtype_name(p.dtype()));
        TS_CHECK(grad.device() == p.device(),
                 "{}.step: the gradient of parameter {} is on {} but the parameter is on {}", name_, index,
                 grad.device().str(), p.device().str());
      }
      ++index;
    }
  }
  for (auto& group : groups_) {
    for (const Tensor& p : group.params()) {
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      update(p, grad, group.options(), state_[p.unsafe_impl()]);
      // The parameter changed in place: graphs that saved its old value must notice.
      p.storage()->bump_version();
    }
  }
  return loss;
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (auto& group : groups_) {
    for (const Tensor& p : group.params()) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
        continue;
      }
      if (g.grad_fn()) {  // a gradient computed with create_graph: keep the values, drop the graph
        g = g.detach();
        p.set_grad(g);
      }
      g.zero_();
    }
  }
}

// ---- state dict ---------------------------------------------------------------------------------

StateDict Optimizer::state_dict() const {
  StateDict dict;
  NoGradGuard no_grad;
  int64_t index = 0;
  for (const auto& group : groups_) {
    for (const Tensor& p : group.params()) {
      if (const ParamState* s = state(p)) {
        for (const auto& [name, t] : s->tensors()) dict.insert(fmt::format("state.{}.{}", index, name), t.clone());
      }
      ++index;
    }
  }
  index = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const auto& params = groups_[g].params();
    std::vector<int64_t> ids(params.size());
    for (auto& id : ids) id = index++;
    dict.insert(fmt::format("param_groups.{}.params", g), tensor<int64_t>(ids, {static_cast<int64_t>(ids.size())}));
    for (const auto& [name, value] : groups_[g].options().hyperparameters())
      dict.insert(fmt::format("param_groups.{}.{}", g, name), scalar_tensor(value, TensorOptions(kFloat64)));
  }
  return dict;
}

namespace {

// "12.exp_avg" -> {12, "exp_avg"}; false when the text does not have that form.
bool split_index(const std::string& rest, int64_t& index, std::string& name) {
  const auto dot = rest.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == rest.size()) return false;
  const char* first = rest.data();
  const char* last = rest.data() + dot;
  auto [end, ec] = std::from_chars(first, last, index);
  if (ec != std::errc() || end != last || index < 0) return false;
  name = rest.substr(dot + 1);
  return true;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

void Optimizer::load_state_dict(const StateDict& dict) {
  const std::string who = name_ + ".load_state_dict";
  // Sort the keys into per-group fields and per-parameter state.
  std::map<int64_t, std::map<std::string, Tensor>> group_fields;
  std::map<int64_t, std::map<std::string, Tensor>> saved_state;
  std::vector<std::string> unexpected;
  for (const auto& [key, value] : dict) {
    int64_t index = 0;
    std::string field;
    if (starts_with(key, "param_groups.") && split_index(key.substr(13), index, field)) {
      group_fields[index][field] = value;
    } else if (starts_with(key, "state.") && split_index(key.substr(6), index, field)) {
      saved_state[index][field] = value;
    } else {
      unexpected.push_back(key);
    }
  }
  TS_CHECK(unexpected.empty(), "{}: unexpected key(s) {}", who, fmt::join(unexpected, ", "));
  const int64_t num_groups = static_cast<int64_t>(groups_.size());
  const int64_t saved_groups = group_fields.empty() ? 0 : group_fields.rbegin()->first + 1;
  TS_CHECK(saved_groups == num_groups && static_cast<int64_t>(group_fields.size()) == num_groups,
           "{}: the state dict has {} parameter group(s) but the optimizer has {}", who, group_fields.size(),
           num_groups);

  // Per group: the saved parameter ids (mapped onto this optimizer's parameters by position,
  // as PyTorch does) and the restored hyperparameters.
  std::map<int64_t, std::pair<const Tensor*, size_t>> param_of_id;  // saved id -> (param, group)
  std::vector<std::unique_ptr<OptimizerOptions>> options(groups_.size());
  for (int64_t g = 0; g < num_groups; ++g) {
    auto& fields = group_fields[g];
    const auto& params = groups_[static_cast<size_t>(g)].params();
    auto it = fields.find("params");
    TS_CHECK(it != fields.end(), "{}: missing key 'param_groups.{}.params'", who, g);
    const Tensor& ids = it->second;
    TS_CHECK(ids.defined() && ids.dim() == 1 && ids.dtype() == kInt64,
             "{}: 'param_groups.{}.params' must be a 1-d int64 tensor of parameter indices", who, g);
    TS_CHECK(ids.numel() == static_cast<int64_t>(params.size()),
             "{}: parameter group {} of the state dict has {} parameter(s) but the optimizer's group has {}", who, g,
             ids.numel(), params.size());
    const auto id_values = ids.to_vector<int64_t>();
    for (size_t k = 0; k < id_values.size(); ++k) {
      TS_CHECK(param_of_id.emplace(id_values[k], std::make_pair(&params[k], static_cast<size_t>(g))).second,
               "{}: parameter index {} appears more than once in the state dict's parameter groups", who, id_values[k]);
    }
    fields.erase(it);

    auto opts = groups_[static_cast<size_t>(g)].options().clone();
    std::vector<std::string> missing;
    for (const auto& [name, old_value] : opts->hyperparameters()) {
      auto f = fields.find(name);
      if (f == fields.end()) {
        missing.push_back(fmt::format("param_groups.{}.{}", g, name));
        continue;
      }
      TS_CHECK(f->second.defined() && f->second.numel() == 1, "{}: 'param_groups.{}.{}' must hold one value", who, g,
               name);
      opts->set_hyperparameter(name, f->second.item<double>());
      fields.erase(f);
    }
    TS_CHECK(missing.empty(), "{}: missing key(s) {}", who, fmt::join(missing, ", "));
    if (!fields.empty()) {
      for (const auto& [name, t] : fields) unexpected.push_back(fmt::format("param_groups.{}.{}", g, name));
      TS_ERROR("{}: unexpected key(s) {} (saved by a different optimizer?)", who, fmt::join(unexpected, ", "));
    }
    opts->validate(who);
    options[static_cast<size_t>(g)] = std::move(opts);
  }

  // Per parameter state, built aside so a failure leaves the optimizer untouched.
  std::unordered_map<const TensorImpl*, std::unique_ptr<ParamState>> new_state;
  NoGradGuard no_grad;
  for (const auto& [id, entries] : saved_state) {
    auto it = param_of_id.find(id);
    if (it == param_of_id.end()) {
      for (const auto& [name, t] : entries) unexpected.push_back(fmt::format("state.{}.{}", id, name));
      TS_ERROR("{}: unexpected key(s) {}: no parameter group lists parameter {}", who, fmt::join(unexpected, ", "), id);
    }
    const Tensor& param = *it->second.first;
    new_state[param.unsafe_impl()] =
        load_state(param, *options[it->second.second], entries, fmt::format("state.{}.", id));
  }

  for (size_t g = 0; g < groups_.size(); ++g) groups_[g].set_options(std::move(options[g]));
  state_ = std::move(new_state);
}

}  // namespace ts::optim
