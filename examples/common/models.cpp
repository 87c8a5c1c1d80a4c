#include "common/models.h"

#include <cmath>

namespace ts::examples {

std::shared_ptr<nn::Sequential> make_mnist_mlp() {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 512), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(512, 256), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(256, 10)});
}

std::shared_ptr<nn::Sequential> make_mnist_cnn() {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
      std::make_shared<nn::Conv2d>(1, 32, 3), std::make_shared<nn::ReLU>(), std::make_shared<nn::Conv2d>(32, 64, 3),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Dropout>(0.25),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(9216, 128), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Dropout>(0.5), std::make_shared<nn::Linear>(128, 10)});
}

namespace {

// conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU.
class BasicBlock : public nn::UnaryModule {
 public:
  BasicBlock(int64_t in_planes, int64_t planes, int64_t stride) : nn::UnaryModule("BasicBlock"), stride_(stride),
        extra_channels_(planes - in_planes) {
    conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(in_planes, planes, 3, stride, 1, 1, 1, false));
    bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes));
    conv2_ = register_module("conv2", std::make_shared<nn::Conv2d>(planes, planes, 3, 1, 1, 1, 1, false));
    bn2_ = register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes));
  }

  Tensor forward(const Tensor& x) override {
    Tensor out = relu(bn1_->forward(conv1_->forward(x)));
    out = bn2_->forward(conv2_->forward(out));
    return relu(out + shortcut(x));
  }

 private:
  // Option A: subsample spatially and pad the new channels with zeros (no parameters).
  Tensor shortcut(const Tensor& x) const {
    if (stride_ == 1 && extra_channels_ == 0) return x;
    Tensor s = x.slice(2, 0, std::nullopt, stride_).slice(3, 0, std::nullopt, stride_);
    const int64_t pad = extra_channels_ / 2;
    Tensor zeros_part = zeros({s.size(0), pad, s.size(2), s.size(3)}, TensorOptions(s.dtype()).with_device(s.device()));
    return cat({zeros_part, s, zeros_part}, 1);
  }

  int64_t stride_, extra_channels_;
  std::shared_ptr<nn::Conv2d> conv1_, conv2_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn2_;
};

}  // namespace

ResNet::ResNet(int64_t depth, int64_t num_classes) : nn::UnaryModule("ResNet"), depth_(depth) {
  TS_CHECK(depth >= 8 && (depth - 2) % 6 == 0, "ResNet: depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {}", depth);
  const int64_t blocks = (depth - 2) / 6;
  stem_ = register_module("conv1", std::make_shared<nn::Conv2d>(3, 16, 3, 1, 1, 1, 1, false));
  stem_bn_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(16));
  stages_ = register_module("layers", std::make_shared<nn::Sequential>());
  int64_t in = 16;
  for (int64_t stage = 0; stage < 3; ++stage) {
    const int64_t planes = 16 << stage;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      stages_->push_back(std::make_shared<BasicBlock>(in, planes, stride));
      in = planes;
    }
  }
  fc_ = register_module("fc", std::make_shared<nn::Linear>(64, num_classes));
  // Kaiming-normal conv weights (fan_out, ReLU), as in torchvision's ResNets.
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = dynamic_cast<nn::Conv2d*>(m.get()))
      nn::init::kaiming_normal_(conv->weight, 0.0, nn::init::FanMode::FanOut, nn::init::Nonlinearity::ReLU);
  }
}

Tensor ResNet::forward(const Tensor& x) { return forward_pieces(x, 0, num_pieces()); }

int64_t ResNet::num_pieces() const { return static_cast<int64_t>(stages_->size()) + 2; }

Tensor ResNet::forward_pieces(const Tensor& x, int64_t begin, int64_t end) {
  TS_CHECK(0 <= begin && begin <= end && end <= num_pieces(), "ResNet: pieces [{}, {}) out of [0, {})", begin, end,
           num_pieces());
  Tensor out = x;
  for (int64_t p = begin; p < end; ++p) {
    if (p == 0) {
      out = relu(stem_bn_->forward(stem_->forward(out)));
    } else if (p == num_pieces() - 1) {
      out = fc_->forward(adaptive_avg_pool2d(out, {1, 1}).flatten(1));
    } else {
      out = (*stages_)[static_cast<size_t>(p - 1)]->forward(out);
    }
  }
  return out;
}

std::vector<Tensor> ResNet::piece_state(int64_t piece) {
  std::vector<std::shared_ptr<nn::Module>> mods;
  if (piece == 0) {
    mods = {stem_, stem_bn_};
  } else if (piece == num_pieces() - 1) {
    mods = {fc_};
  } else {
    mods = {(*stages_)[static_cast<size_t>(piece - 1)]};
  }
  std::vector<Tensor> out;
  for (const auto& m : mods) {
    for (const auto& p : m->parameters()) out.push_back(p);
    for (const auto& b : m->buffers()) out.push_back(b);
  }
  return out;
}

}  // namespace ts::examples
