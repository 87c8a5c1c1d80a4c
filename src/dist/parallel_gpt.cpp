#include "tessera/dist/parallel_gpt.h"

#include <algorithm>
#include <cmath>

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/nn_functional.h"
#include "tessera/ops.h"

namespace ts::dist {
namespace {

int64_t padded_vocab(int64_t vocab, int tp) { return (vocab + tp - 1) / tp * tp; }

// Every tp rank's shard stacked along dim 0 / dim 1.
Tensor gather_rows(const Tensor& shard, const GroupPtr& tp) {
  Shape shape = shard.shape();
  shape[0] *= tp->size();
  Tensor out = empty(shape, TensorOptions(shard.dtype()));
  tp->all_gather(shard.detach().contiguous(), out);
  return out;
}
Tensor gather_cols(const Tensor& shard, const GroupPtr& tp) { return gather_rows(shard.t().contiguous(), tp).t(); }

// A column-parallel qkv projection gathered as [q_0; k_0; v_0; q_1; ...] back to [q; k; v].
Tensor unshard_qkv(const Tensor& shard, const GroupPtr& tp) {
  const Tensor all = gather_rows(shard, tp);
  const int64_t part = shard.size(0) / 3;
  std::vector<Tensor> rows;
  for (int64_t which = 0; which < 3; ++which)
    for (int64_t r = 0; r < tp->size(); ++r) rows.push_back(all.narrow(0, r * 3 * part + which * part, part));
  return cat(rows, 0);
}

void check_config(const nn::GPTConfig& c, const ParallelGrid& g) {
  c.validate("ParallelGPT");
  TS_CHECK(c.n_layer % g.pp == 0, "ParallelGPT: n_layer {} is not divisible by pp {}", c.n_layer, g.pp);
  TS_CHECK(c.norm == nn::NormKind::LayerNorm && c.mlp == nn::MlpKind::Gelu && !c.rotary && c.dropout == 0.0,
           "ParallelGPT: only GPT-2 blocks (LayerNorm, GELU, learned positions, no dropout) are parallel so far");
}

}  // namespace

ParallelGPT::ParallelGPT(const nn::GPTConfig& config, const ParallelGrid& grid)
    : nn::Module("ParallelGPT"), config_(config), grid_(grid),
      stage_(grid.pp_group, [this](const Tensor& x) { return stage_forward(x); },
             [this](const Tensor& logits, int64_t m) { return stage_loss(logits, micro_targets_[static_cast<size_t>(m)]); }) {
  check_config(config, grid);
  const bool first = grid.is_first_stage(), last = grid.is_last_stage();
  const int64_t per_stage = config.n_layer / grid.pp;
  first_block_ = grid.pp_rank * per_stage;
  if (first || last) {
    wte = register_module("wte", std::make_shared<VocabParallelEmbedding>(padded_vocab(config.vocab_size, grid.tp),
                                                                          config.n_embd, grid.tp_group));
  }
  if (first) wpe = register_module("wpe", std::make_shared<nn::Embedding>(config.block_size, config.n_embd));
  h = register_module("h", std::make_shared<nn::ModuleList>());
  for (int64_t i = 0; i < per_stage; ++i) h->push_back(std::make_shared<ParallelTransformerBlock>(config, grid.tp_group));
  if (last) ln_f = register_module("ln_f", nn::make_norm(config));
  // Which gradients this rank contributes to the global norm (see norm_owned_).
  std::vector<const TensorImpl*> sharded;
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* col = dynamic_cast<ColumnParallelLinear*>(m.get())) {
      sharded.push_back(col->weight.unsafe_impl());
      if (col->bias.defined()) sharded.push_back(col->bias.unsafe_impl());
    } else if (auto* row = dynamic_cast<RowParallelLinear*>(m.get())) {
      sharded.push_back(row->weight.unsafe_impl());
    } else if (auto* emb = dynamic_cast<VocabParallelEmbedding*>(m.get())) {
      sharded.push_back(emb->weight.unsafe_impl());
    }
  }
  for (const auto& p : parameters()) {
    if (wte && p.is_same(wte->weight) && !first) continue;  // the tied head: counted on the first stage
    const bool is_shard = std::find(sharded.begin(), sharded.end(), p.unsafe_impl()) != sharded.end();
    if (is_shard || grid.tp_rank == 0) norm_owned_.push_back(p);
  }
  // The first and last stages of each (dp, tp) pipeline share the tied embedding's gradient.
  if (grid.pp > 1) {
    const int color = (first || last) ? grid.dp_rank * grid.tp + grid.tp_rank : -1;
    embedding_group_ = grid.world->split(color, grid.pp_rank, "embedding");
  }
}

Tensor ParallelGPT::stage_forward(const Tensor& input) {
  Tensor x = input;
  if (grid_.is_first_stage()) {
    TS_CHECK(input.dim() == 2 && input.size(1) <= config_.block_size,
             "ParallelGPT: expected token ids (B, T <= {}) but got {}", config_.block_size, shape_str(input.shape()));
    const Tensor pos = arange(0, input.size(1), 1, TensorOptions(kInt64));
    x = wte->forward(input) + wpe->forward(pos);
  }
  for (size_t i = 0; i < h->size(); ++i) x = h->at<ParallelTransformerBlock>(i)->forward(x);
  if (!grid_.is_last_stage()) return x;
  // The tied LM head: this rank's vocabulary slice of x wte^T.
  return linear(copy_to_parallel_region(ln_f->forward(x), grid_.tp_group), wte->weight);
}

Tensor ParallelGPT::stage_loss(const Tensor& logits, const Tensor& targets) {
  return vocab_parallel_cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}), grid_.tp_group,
                                      config_.vocab_size);
}

double ParallelGPT::forward_backward(const Tensor& ids, const Tensor& targets, int64_t micro_batches,
                                     PipelineSchedule schedule) {
  TS_CHECK(micro_batches >= 1 && ids.size(0) % micro_batches == 0,
           "ParallelGPT: the local batch of {} sequences does not split into {} micro-batches", ids.size(0),
           micro_batches);
  micro_targets_ = chunk(targets, micro_batches, 0);
  double loss = stage_.run(chunk(ids, micro_batches, 0), schedule);
  micro_targets_.clear();
  NoGradGuard no_grad;
  if (embedding_group_) {
    Tensor g = wte->weight.grad().defined() ? wte->weight.grad() : zeros_like(wte->weight);
    embedding_group_->all_reduce(g, ReduceOp::Sum);
    wte->weight.set_grad(g);
  }
  if (grid_.dp > 1) {
    for (auto& p : parameters()) {
      Tensor g = p.grad().defined() ? p.grad() : zeros_like(p);
      grid_.dp_group->all_reduce(g, ReduceOp::Avg);
      p.set_grad(g);
    }
    Tensor l = scalar_tensor(loss, kFloat64);
    grid_.dp_group->all_reduce(l, ReduceOp::Avg);
    loss = l.item<double>();
  }
  return loss;
}

double ParallelGPT::evaluate(const Tensor& ids, const Tensor& targets, int64_t micro_batches) {
  TS_CHECK(micro_batches >= 1 && ids.size(0) % micro_batches == 0,
           "ParallelGPT: the local batch of {} sequences does not split into {} micro-batches", ids.size(0),
           micro_batches);
  micro_targets_ = chunk(targets, micro_batches, 0);
  double loss = stage_.evaluate(chunk(ids, micro_batches, 0));
  micro_targets_.clear();
  if (grid_.dp > 1) {
    Tensor l = scalar_tensor(loss, kFloat64);
    grid_.dp_group->all_reduce(l, ReduceOp::Avg);
    loss = l.item<double>();
  }
  return loss;
}

void ParallelGPT::load_dense(const nn::GPT& dense) {
  NoGradGuard no_grad;
  if (wte) {
    const Tensor& w = dense.wte->weight;
    const int64_t pad = padded_vocab(config_.vocab_size, grid_.tp) - config_.vocab_size;
    wte->load_dense(pad == 0 ? w : cat({w, zeros({pad, w.size(1)}, TensorOptions(w.dtype()))}, 0));
  }
  if (wpe) wpe->weight.copy_(dense.wpe->weight);
  for (size_t i = 0; i < h->size(); ++i)
    h->at<ParallelTransformerBlock>(i)->load_dense(
        *dense.h->at<nn::TransformerBlock>(static_cast<size_t>(first_block_) + i));
  if (ln_f) {
    auto mine = ln_f->named_parameters(), theirs = dense.ln_f->named_parameters();
    for (size_t i = 0; i < mine.size(); ++i) mine[i].second.copy_(theirs[i].second);
  }
}

void ParallelGPT::to_dense(nn::GPT& dense) const {
  NoGradGuard no_grad;
  const GroupPtr& tp = grid_.tp_group;
  const int64_t per_stage = config_.n_layer / grid_.pp;
  // Broadcasts the value `compute` yields on stage `owner` (tp gathers included) into `out`.
  auto publish = [&](int owner, Tensor out, const std::function<Tensor()>& compute) {
    if (grid_.pp_rank == owner) out.copy_(compute());
    grid_.world->broadcast(out, grid_.rank_of(0, owner, 0));
  };
  auto copy_params = [](const nn::Module& from) {
    std::vector<Tensor> v;
    for (const auto& p : from.parameters()) v.push_back(p);
    return v;
  };
  publish(0, dense.wte->weight, [&] { return gather_rows(wte->weight, tp).narrow(0, 0, config_.vocab_size); });
  publish(0, dense.wpe->weight, [&] { return wpe->weight.detach(); });
  for (int64_t b = 0; b < config_.n_layer; ++b) {
    const int owner = static_cast<int>(b / per_stage);
    const auto& d = *dense.h->at<nn::TransformerBlock>(static_cast<size_t>(b));
    const bool mine = grid_.pp_rank == owner;
    const auto* p = mine ? h->at<ParallelTransformerBlock>(static_cast<size_t>(b - first_block_)).get() : nullptr;
    const auto ln1 = copy_params(*d.ln_1), ln2 = copy_params(*d.ln_2);
    for (size_t i = 0; i < ln1.size(); ++i) publish(owner, ln1[i], [&] { return copy_params(*p->ln_1)[i]; });
    for (size_t i = 0; i < ln2.size(); ++i) publish(owner, ln2[i], [&] { return copy_params(*p->ln_2)[i]; });
    publish(owner, d.attn->c_attn->weight, [&] { return unshard_qkv(p->attn->c_attn->weight, tp); });
    if (d.attn->c_attn->bias.defined())
      publish(owner, d.attn->c_attn->bias, [&] { return unshard_qkv(p->attn->c_attn->bias.unsqueeze(1), tp).squeeze(1); });
    publish(owner, d.attn->c_proj->weight, [&] { return gather_cols(p->attn->c_proj->weight, tp); });
    if (d.attn->c_proj->bias.defined()) publish(owner, d.attn->c_proj->bias, [&] { return p->attn->c_proj->bias.detach(); });
    publish(owner, d.mlp->c_fc->weight, [&] { return gather_rows(p->mlp->c_fc->weight, tp); });
    if (d.mlp->c_fc->bias.defined()) publish(owner, d.mlp->c_fc->bias, [&] { return gather_rows(p->mlp->c_fc->bias, tp); });
    publish(owner, d.mlp->c_proj->weight, [&] { return gather_cols(p->mlp->c_proj->weight, tp); });
    if (d.mlp->c_proj->bias.defined()) publish(owner, d.mlp->c_proj->bias, [&] { return p->mlp->c_proj->bias.detach(); });
  }
  const auto lnf = copy_params(*dense.ln_f);
  for (size_t i = 0; i < lnf.size(); ++i)
    publish(grid_.pp - 1, lnf[i], [&] { return copy_params(*ln_f)[i]; });
}

namespace {

// A dense GPT's parameters in the order of an AdamW over its weight_decay_groups().
std::vector<Tensor> dense_optimizer_order(const nn::GPT& dense) {
  auto [decay, no_decay] = dense.weight_decay_groups();
  decay.insert(decay.end(), no_decay.begin(), no_decay.end());
  return decay;
}

constexpr const char* kMoments[] = {"exp_avg", "exp_avg_sq"};

}  // namespace

StateDict ParallelGPT::optimizer_state_to_dense(const optim::AdamW& opt) {
  NoGradGuard no_grad;
  const std::vector<Tensor> mine = parameters();
  const auto* any = dynamic_cast<const optim::AdamParamState*>(opt.state(mine.front()));
  nn::GPT moments(config_);
  const std::vector<Tensor> order = dense_optimizer_order(moments);
  StateDict out;
  if (any != nullptr) {
    // Each moment goes through to_dense by standing in for the weights for a moment.
    std::vector<Tensor> saved;
    for (const auto& p : mine) saved.push_back(p.detach().clone());
    for (const char* name : kMoments) {
      for (const auto& p : mine) {
        const auto* st = dynamic_cast<const optim::AdamParamState*>(opt.state(p));
        Tensor target = p.detach();
        if (st == nullptr) {
          target.zero_();
        } else {
          target.copy_(std::string(name) == "exp_avg" ? st->exp_avg : st->exp_avg_sq);
        }
      }
      to_dense(moments);
      for (size_t i = 0; i < order.size(); ++i) out.insert(fmt::format("state.{}.{}", i, name), order[i].detach().clone());
    }
    for (size_t i = 0; i < mine.size(); ++i) {
      Tensor target = mine[i].detach();
      target.copy_(saved[i]);
    }
    for (size_t i = 0; i < order.size(); ++i)
      out.insert(fmt::format("state.{}.step", i), scalar_tensor(static_cast<double>(any->step), kFloat64));
  }
  auto [decay, no_decay] = moments.weight_decay_groups();
  int64_t index = 0;
  for (size_t g = 0; g < 2; ++g) {
    const size_t count = g == 0 ? decay.size() : no_decay.size();
    std::vector<int64_t> ids(count);
    for (auto& id : ids) id = index++;
    out.insert(fmt::format("param_groups.{}.params", g), tensor(ids, {static_cast<int64_t>(count)}, kInt64));
    for (const auto& [name, value] : opt.param_groups()[g].options().hyperparameters())
      out.insert(fmt::format("param_groups.{}.{}", g, name), scalar_tensor(value, kFloat64));
  }
  return out;
}

void ParallelGPT::load_optimizer_state_from_dense(const StateDict& dense_state, optim::AdamW& opt) {
  NoGradGuard no_grad;
  TS_CHECK(opt.param_groups().size() == 2, "ParallelGPT: expected an AdamW built on weight_decay_groups()");
  nn::GPT moments(config_);
  const std::vector<Tensor> order = dense_optimizer_order(moments);
  const std::vector<Tensor> mine = opt.parameters();
  StateDict out;
  if (dense_state.contains("state.0.step")) {
    std::vector<Tensor> saved;
    for (const auto& p : mine) saved.push_back(p.detach().clone());
    for (const char* name : kMoments) {
      for (size_t i = 0; i < order.size(); ++i) {
        Tensor target = order[i].detach();
        target.copy_(dense_state.at(fmt::format("state.{}.{}", i, name)));
      }
      load_dense(moments);
      for (size_t j = 0; j < mine.size(); ++j) out.insert(fmt::format("state.{}.{}", j, name), mine[j].detach().clone());
    }
    for (size_t j = 0; j < mine.size(); ++j) {
      Tensor target = mine[j].detach();
      target.copy_(saved[j]);
      out.insert(fmt::format("state.{}.step", j), dense_state.at("state.0.step"));
    }
  }
  int64_t index = 0;
  for (size_t g = 0; g < 2; ++g) {
    const size_t count = opt.param_groups()[g].params().size();
    std::vector<int64_t> ids(count);
    for (auto& id : ids) id = index++;
    out.insert(fmt::format("param_groups.{}.params", g), tensor(ids, {static_cast<int64_t>(count)}, kInt64));
    const std::string prefix = fmt::format("param_groups.{}.", g);
    for (const auto& [key, value] : dense_state)
      if (key.starts_with(prefix) && key != prefix + "params") out.insert(key, value);
  }
  opt.load_state_dict(out);
}

double ParallelGPT::clip_grad_norm_(double max_norm) {
  NoGradGuard no_grad;
  double local = 0;
  for (const auto& p : norm_owned_)
    if (p.grad().defined()) local += sum(square(p.grad().to(kFloat64))).item<double>();
  Tensor total = scalar_tensor(local, kFloat64);
  if (grid_.tp > 1) grid_.tp_group->all_reduce(total, ReduceOp::Sum);
  if (grid_.pp > 1) grid_.pp_group->all_reduce(total, ReduceOp::Sum);
  const double norm = std::sqrt(total.item<double>());
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0)
    for (auto& p : parameters())
      if (p.grad().defined()) p.grad().mul_(coef);
  return norm;
}

std::pair<std::vector<Tensor>, std::vector<Tensor>> ParallelGPT::weight_decay_groups() const {
  std::vector<Tensor> decay, no_decay;
  for (const auto& p : parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  return {decay, no_decay};
}

}  // namespace ts::dist
