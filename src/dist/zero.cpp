#include "tessera/dist/zero.h"

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/ops.h"

namespace ts::dist {

ZeroAdamW::ZeroAdamW(std::vector<Group> groups, std::shared_ptr<Communicator> dp_group) : group_(std::move(dp_group)) {
  TS_CHECK(group_ != nullptr, "ZeroAdamW: the data-parallel group is null");
  TS_CHECK(!groups.empty(), "ZeroAdamW: no parameter groups");
  const int64_t ranks = group_->size();
  std::vector<optim::OptimizerParamGroup> inner_groups;
  for (auto& [params, options] : groups) {
    FlatGroup g;
    g.params = params;
    for (const auto& p : params) {
      TS_CHECK(p.dtype() == params.front().dtype(), "ZeroAdamW: a group mixes {} and {} parameters",
               dtype_name(p.dtype()), dtype_name(params.front().dtype()));
      g.numel += p.numel();
    }
    g.shard = (g.numel + ranks - 1) / ranks;
    {
      NoGradGuard no_grad;
      g.slice = flatten(g, false).narrow(0, group_->rank() * g.shard, g.shard).clone();
    }
    g.slice.requires_grad_(true);
    inner_groups.emplace_back(std::vector<Tensor>{g.slice}, options);
    flat_.push_back(std::move(g));
  }
  inner_ = std::make_unique<optim::AdamW>(std::move(inner_groups), groups.front().second);
}

// The group's parameters (or gradients, zeros where missing) as one vector, zero-padded to
// shard * ranks elements.
Tensor ZeroAdamW::flatten(const FlatGroup& g, bool grads) const {
  NoGradGuard no_grad;
  std::vector<Tensor> parts;
  for (const auto& p : g.params) {
    const Tensor t = grads ? (p.grad().defined() ? p.grad() : zeros_like(p)) : p.detach();
    parts.push_back(t.reshape({-1}));
  }
  const int64_t pad = g.shard * group_->size() - g.numel;
  if (pad > 0) parts.push_back(zeros({pad}, TensorOptions(g.params.front().dtype())));
  return cat(parts, 0);
}

void ZeroAdamW::step() {
  NoGradGuard no_grad;
  for (auto& g : flat_) {
    Tensor grad = empty({g.shard}, TensorOptions(g.slice.dtype()));
    group_->reduce_scatter(flatten(g, true), grad, ReduceOp::Avg);
    g.slice.set_grad(grad);
  }
  inner_->step();
  for (auto& g : flat_) {
    Tensor full = empty({g.shard * group_->size()}, TensorOptions(g.slice.dtype()));
    group_->all_gather(g.slice.detach(), full);
    int64_t offset = 0;
    for (auto& p : g.params) {
      Tensor target = p.detach();
      target.copy_(full.narrow(0, offset, p.numel()).view(p.shape()));
      offset += p.numel();
    }
  }
}

void ZeroAdamW::zero_grad() {
  for (auto& g : flat_)
    for (auto& p : g.params) p.set_grad(Tensor());
  inner_->zero_grad();
}

StateDict ZeroAdamW::state_dict() const {
  NoGradGuard no_grad;
  const StateDict inner = inner_->state_dict();
  StateDict out;
  int64_t index = 0;  // numbering of the original parameters over all groups
  for (size_t g = 0; g < flat_.size(); ++g) {
    const FlatGroup& fg = flat_[g];
    const std::string prefix = fmt::format("state.{}.", g);
    for (const auto& [key, value] : inner) {
      if (!key.starts_with(prefix)) continue;
      const std::string name = key.substr(prefix.size());
      if (value.dim() == 0) {  // "step": the same for every parameter
        for (size_t i = 0; i < fg.params.size(); ++i) out.insert(fmt::format("state.{}.{}", index + static_cast<int64_t>(i), name), value.clone());
        continue;
      }
      Tensor full = empty({fg.shard * group_->size()}, TensorOptions(value.dtype()));
      group_->all_gather(value.contiguous(), full);
      int64_t offset = 0;
      for (size_t i = 0; i < fg.params.size(); ++i) {
        const Tensor& p = fg.params[i];
        out.insert(fmt::format("state.{}.{}", index + static_cast<int64_t>(i), name),
                   full.narrow(0, offset, p.numel()).view(p.shape()).clone());
        offset += p.numel();
      }
    }
    std::vector<int64_t> ids;
    for (size_t i = 0; i < fg.params.size(); ++i) ids.push_back(index + static_cast<int64_t>(i));
    out.insert(fmt::format("param_groups.{}.params", g), tensor(ids, {static_cast<int64_t>(ids.size())}, kInt64));
    const std::string hyper = fmt::format("param_groups.{}.", g);
    for (const auto& [key, value] : inner)
      if (key.starts_with(hyper) && key != hyper + "params") out.insert(key, value.clone());
    index += static_cast<int64_t>(fg.params.size());
  }
  return out;
}

void ZeroAdamW::load_state_dict(const StateDict& dict) {
  NoGradGuard no_grad;
  StateDict inner;
  int64_t index = 0;
  for (size_t g = 0; g < flat_.size(); ++g) {
    const FlatGroup& fg = flat_[g];
    const std::string first = fmt::format("state.{}.", index);
    for (const auto& [key, value] : dict) {
      if (!key.starts_with(first)) continue;
      const std::string name = key.substr(first.size());
      if (value.dim() == 0) {
        inner.insert(fmt::format("state.{}.{}", g, name), value);
        continue;
      }
      // This state tensor for every parameter of the group, flattened and sliced like the
      // parameters themselves.
      std::vector<Tensor> parts;
      for (size_t i = 0; i < fg.params.size(); ++i) {
        const std::string k = fmt::format("state.{}.{}", index + static_cast<int64_t>(i), name);
        TS_CHECK(dict.contains(k), "ZeroAdamW::load_state_dict: '{}' is missing", k);
        const Tensor& t = dict.at(k);
        TS_CHECK(t.numel() == fg.params[i].numel(), "ZeroAdamW::load_state_dict: '{}' has {} elements but its "
                 "parameter has {}", k, t.numel(), fg.params[i].numel());
        parts.push_back(t.reshape({-1}));
      }
      const int64_t pad = fg.shard * group_->size() - fg.numel;
      if (pad > 0) parts.push_back(zeros({pad}, TensorOptions(parts.front().dtype())));
      inner.insert(fmt::format("state.{}.{}", g, name), cat(parts, 0).narrow(0, group_->rank() * fg.shard, fg.shard).clone());
    }
    inner.insert(fmt::format("param_groups.{}.params", g), tensor(std::vector<int64_t>{static_cast<int64_t>(g)}, {1}, kInt64));
    const std::string hyper = fmt::format("param_groups.{}.", g);
    for (const auto& [key, value] : dict)
      if (key.starts_with(hyper) && key != hyper + "params") inner.insert(key, value);
    index += static_cast<int64_t>(fg.params.size());
  }
  inner_->load_state_dict(inner);
}

int64_t ZeroAdamW::shard_numel() const {
  int64_t n = 0;
  for (const auto& g : flat_) n += g.shard;
  return n;
}

}  // namespace ts::dist
