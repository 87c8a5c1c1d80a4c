#pragma once
/// GPT trained with data, tensor and pipeline parallelism composed over a ParallelGrid
/// (dp x pp x tp ranks): each pipeline stage holds n_layer / pp blocks, every layer is split
/// over the tp group (heads, MLP columns, and a vocabulary-parallel embedding and LM head,
/// the vocabulary padded to a multiple of tp), and dp replicas average their gradients.
/// With every degree 1 it is the dense GPT; load_dense() takes any rank's shard of one, which
/// is how a single-process model (or checkpoint) starts a parallel run.
#include <memory>

#include "tessera/dist/pipeline.h"
#include "tessera/dist/process_groups.h"
#include "tessera/dist/tensor_parallel.h"
#include "tessera/nn/container.h"
#include "tessera/nn/embedding.h"
#include "tessera/nn/gpt.h"
#include "tessera/optim/adam.h"

namespace ts::dist {

class ParallelGPT : public nn::Module {
 public:
  /// Collective over grid.world (it creates the group that ties the first and last stages'
  /// embeddings). LayerNorm GELU blocks with learned positions and no dropout.
  ParallelGPT(const nn::GPTConfig& config, const ParallelGrid& grid);

  /// This stage's part: token ids (B, T) -> hidden on the first stage, hidden -> hidden in
  /// between, and hidden -> this rank's vocabulary slice of the logits on the last stage.
  Tensor stage_forward(const Tensor& input);
  /// Mean cross-entropy of the last stage's logit slice against targets (B, T).
  Tensor stage_loss(const Tensor& logits, const Tensor& targets);

  /// One training step's forward and backward: this dp rank's batch (B_local, T) split into
  /// `micro_batches` through the pipeline; then the tied-embedding and data-parallel gradient
  /// reductions. Returns the mean loss over the global batch on every rank. Zero the
  /// gradients before and step the optimizer after.
  double forward_backward(const Tensor& ids, const Tensor& targets, int64_t micro_batches,
                          PipelineSchedule schedule = PipelineSchedule::OneFOneB);

  /// The mean loss over the global batch without gradients (validation); same arguments.
  double evaluate(const Tensor& ids, const Tensor& targets, int64_t micro_batches);

  /// Copies this rank's shard of a dense GPT with the same config.
  void load_dense(const nn::GPT& dense);
  /// The inverse: fills `dense` (same config) on every rank with the full parameters,
  /// gathered over tp and broadcast from each block's pipeline stage. Collective over the
  /// world. Saving `dense` gives a layout-free checkpoint that load_dense() reshards into any
  /// other (dp, pp, tp) layout, or that a single process (`gpt sample`) reads directly.
  void to_dense(nn::GPT& dense) const;
  /// The AdamW state of `opt` (built on this model's weight_decay_groups()) gathered into the
  /// layout of an AdamW built on a dense GPT's weight_decay_groups() -- what the one-process
  /// trainer checkpoints -- so optimizer state reshards like the weights. Collective.
  StateDict optimizer_state_to_dense(const optim::AdamW& opt);
  /// The inverse: loads this rank's shards of a dense AdamW state into `opt`. Local.
  void load_optimizer_state_from_dense(const StateDict& dense_state, optim::AdamW& opt);
  /// torch.nn.utils.clip_grad_norm_ over the whole (unsplit) model: the 2-norm of all
  /// gradients, each parameter counted once however it is split or replicated, and the
  /// gradients scaled by max_norm / (norm + 1e-6) when that is below 1. Returns the norm.
  /// Collective over the tp and pp groups; call after forward_backward.
  double clip_grad_norm_(double max_norm);
  /// {matrices and embeddings, vectors} of this rank, for AdamW's weight-decay groups.
  std::pair<std::vector<Tensor>, std::vector<Tensor>> weight_decay_groups() const;
  const PipelineStats& pipeline_stats() const { return stage_.stats(); }

  std::shared_ptr<VocabParallelEmbedding> wte;  ///< first and last stage (the tied LM head)
  std::shared_ptr<nn::Embedding> wpe;           ///< first stage
  std::shared_ptr<nn::ModuleList> h;            ///< this stage's blocks
  std::shared_ptr<nn::UnaryModule> ln_f;        ///< last stage

 private:
  nn::GPTConfig config_;
  ParallelGrid grid_;
  int64_t first_block_ = 0;
  std::shared_ptr<Communicator> embedding_group_;  ///< first + last stage of this (dp, tp) pipeline
  PipelineStage stage_;
  std::vector<Tensor> micro_targets_;
  /// Parameters whose squared gradient norm this rank adds to the total: its shards of split
  /// tensors, and replicated ones only on tp rank 0 (the tied embedding on the first stage).
  std::vector<Tensor> norm_owned_;
};

}  // namespace ts::dist
