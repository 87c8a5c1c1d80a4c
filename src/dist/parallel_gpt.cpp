#include "tessera/dist/parallel_gpt.h"

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/nn_functional.h"
#include "tessera/ops.h"

namespace ts::dist {
namespace {

int64_t padded_vocab(int64_t vocab, int tp) { return (vocab + tp - 1) / tp * tp; }

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

std::pair<std::vector<Tensor>, std::vector<Tensor>> ParallelGPT::weight_decay_groups() const {
  std::vector<Tensor> decay, no_decay;
  for (const auto& p : parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  return {decay, no_decay};
}

}  // namespace ts::dist
