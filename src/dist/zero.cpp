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

int64_t ZeroAdamW::shard_numel() const {
  int64_t n = 0;
  for (const auto& g : flat_) n += g.shard;
  return n;
}

}  // namespace ts::dist
