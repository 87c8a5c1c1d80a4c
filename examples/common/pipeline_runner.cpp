#include "common/pipeline_runner.h"

#include <tessera/tessera.h>

namespace ts::examples {

PipelineRunner::PipelineRunner(Pieced& model, const dist::ParallelGrid& grid, int64_t micro_batches)
    : model_(model), grid_(grid), micro_(micro_batches) {
  const int64_t pieces = model.num_pieces();
  TS_CHECK(pieces >= grid.pp, "--pp {}: the model has only {} pieces to split", grid.pp, pieces);
  // Stage s owns pieces [s * P / pp, (s + 1) * P / pp).
  begin_ = grid.pp_rank * pieces / grid.pp;
  end_ = (grid.pp_rank + 1) * pieces / grid.pp;
  stage_ = std::make_unique<dist::PipelineStage>(
      grid.pp_group, [this](const Tensor& x) { return model_.forward_pieces(x, begin_, end_); },
      [this](const Tensor& logits, int64_t m) {
        const Tensor& target = targets_[static_cast<size_t>(m)];
        correct_ += sum(eq(argmax(logits.detach(), 1), target)).item<int64_t>();
        return cross_entropy(logits, target);
      });
}

std::pair<double, int64_t> PipelineRunner::train_step(const Tensor& data, const Tensor& target) {
  TS_CHECK(data.size(0) % micro_ == 0, "--micro-batches {} must divide the batch of {}", micro_, data.size(0));
  targets_ = chunk(target, micro_, 0);
  correct_ = 0;
  const double loss = stage_->run(chunk(data, micro_, 0), dist::PipelineSchedule::OneFOneB);
  NoGradGuard no_grad;
  Tensor correct = scalar_tensor(correct_, kInt64);
  grid_.pp_group->broadcast(correct, grid_.pp - 1);
  if (grid_.dp > 1) {
    for (int64_t p = begin_; p < end_; ++p)
      for (auto& t : model_.piece_state(p)) {
        if (!t.requires_grad()) continue;
        Tensor g = t.grad().defined() ? t.grad() : zeros_like(t);
        grid_.dp_group->all_reduce(g, dist::ReduceOp::Avg);
        t.set_grad(g);
      }
  }
  return {loss, correct.item<int64_t>()};
}

void PipelineRunner::gather_model() {
  NoGradGuard no_grad;
  const int64_t pieces = model_.num_pieces();
  for (int64_t p = 0; p < pieces; ++p) {
    // The stage that owns piece p: the s with s * P / pp <= p < (s + 1) * P / pp.
    int owner = 0;
    while ((owner + 1) * pieces / grid_.pp <= p) ++owner;
    for (auto& t : model_.piece_state(p)) {
      Tensor target = t.detach();
      grid_.pp_group->broadcast(target, owner);
    }
  }
}

}  // namespace ts::examples
