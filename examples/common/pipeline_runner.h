#pragma once
// Pipeline-parallel training of a classifier that can be cut into consecutive pieces (the
// CIFAR ResNet: stem, residual blocks, head). With --pp N each pipeline stage owns an equal
// run of pieces and trains them on micro-batches (1F1B); with --dp M as well, the M replicas
// of each stage average their gradients. Before evaluation and checkpoints every rank gathers
// the whole model (each piece's parameters and buffers broadcast from its stage), so the
// evaluation and the checkpoint are those of the unsplit model.
#include <cstdint>
#include <memory>
#include <vector>

#include <tessera/dist.h>

namespace ts::examples {

/// A model that runs as consecutive pieces.
class Pieced {
 public:
  virtual ~Pieced() = default;
  virtual int64_t num_pieces() const = 0;
  /// Runs pieces [begin, end) on x.
  virtual Tensor forward_pieces(const Tensor& x, int64_t begin, int64_t end) = 0;
  /// The parameters and buffers of one piece.
  virtual std::vector<Tensor> piece_state(int64_t piece) = 0;
};

class PipelineRunner {
 public:
  PipelineRunner(Pieced& model, const dist::ParallelGrid& grid, int64_t micro_batches);
  /// Forward and backward of one batch through the pipeline (gradients accumulate into this
  /// stage's parameters, averaged over dp). Returns {mean loss, correct predictions} of the
  /// batch on every rank.
  std::pair<double, int64_t> train_step(const Tensor& data, const Tensor& target);
  /// Gives every rank the whole model (see the file comment). Collective over the world.
  void gather_model();

 private:
  Pieced& model_;
  dist::ParallelGrid grid_;
  int64_t micro_, begin_, end_;
  std::vector<Tensor> targets_;
  int64_t correct_ = 0;
  std::unique_ptr<dist::PipelineStage> stage_;
};

}  // namespace ts::examples
