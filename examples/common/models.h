#pragma once
// The models of the example trainers and the training-step benchmarks (one definition, so
// the benchmark times exactly what the trainers train).
#include <memory>

#include <tessera/nn.h>
#include <tessera/tessera.h>

#include "common/pipeline_runner.h"

namespace ts::examples {

/// MNIST MLP: flatten, 784-512-256-10 with ReLU.
std::shared_ptr<nn::Sequential> make_mnist_mlp();

/// MNIST CNN (the PyTorch MNIST example's net): conv3x3(32)-ReLU-conv3x3(64)-ReLU-maxpool2-
/// dropout(0.25)-fc(9216,128)-ReLU-dropout(0.5)-fc(128,10).
std::shared_ptr<nn::Sequential> make_mnist_cnn();

/// CIFAR ResNet (He et al. 2016, section 4.2): 3 stages of (depth-2)/6 basic blocks with
/// 16/32/64 channels, identity shortcuts with zero-padded channels and stride-2 subsampling
/// ("option A"); depth 20 gives ResNet-20 (0.27M parameters).
/// Runs as 3n + 2 pieces for pipeline parallelism: the stem, each residual block, the head.
class ResNet : public nn::UnaryModule, public Pieced {
 public:
  explicit ResNet(int64_t depth = 20, int64_t num_classes = 10);
  Tensor forward(const Tensor& x) override;
  int64_t depth() const { return depth_; }

  int64_t num_pieces() const override;
  Tensor forward_pieces(const Tensor& x, int64_t begin, int64_t end) override;
  std::vector<Tensor> piece_state(int64_t piece) override;

 private:
  int64_t depth_;
  std::shared_ptr<nn::Conv2d> stem_;
  std::shared_ptr<nn::BatchNorm2d> stem_bn_;
  std::shared_ptr<nn::Sequential> stages_;
  std::shared_ptr<nn::Linear> fc_;
};

}  // namespace ts::examples
