#pragma once
/// Per-sample transforms (torchvision.transforms): Normalize, RandomCrop, RandomHorizontalFlip
/// and Compose. Images are tensors of shape (..., H, W) -- typically (C, H, W) -- on the CPU.
///
/// A random transform draws only from the SampleRng it is handed; the DataLoader hands each
/// sample a stream derived from (seed, epoch, sample index), so augmentation is reproducible
/// and independent of thread scheduling.
#include <memory>
#include <string>
#include <vector>

#include "tessera/data/random.h"
#include "tessera/tensor.h"

namespace ts::data {

class Transform {
 public:
  virtual ~Transform() = default;
  /// Returns the transformed sample; never writes into `x` (it may alias the dataset).
  virtual Tensor operator()(const Tensor& x, SampleRng& rng) const = 0;
  /// "RandomCrop(size=(32, 32), padding=4)", for logs.
  virtual std::string repr() const = 0;
};

using TransformPtr = std::shared_ptr<const Transform>;

/// out[c] = (x[c] - mean[c]) / std[c] over the channel dim (dim -3) of a float32/float64
/// (..., C, H, W) tensor, computed in the tensor's dtype like torchvision. `mean` and `std`
/// hold C values, or one value for every channel.
class Normalize final : public Transform {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std);
  Tensor operator()(const Tensor& x, SampleRng& rng) const override;
  std::string repr() const override;

 private:
  std::vector<double> mean_, std_;
};

/// Pads H and W with `padding` zeros on every side, then crops a `height` x `width` window at
/// a uniformly random position. Any dtype.
class RandomCrop final : public Transform {
 public:
  explicit RandomCrop(int64_t size, int64_t padding = 0) : RandomCrop(size, size, padding) {}
  RandomCrop(int64_t height, int64_t width, int64_t padding);
  Tensor operator()(const Tensor& x, SampleRng& rng) const override;
  std::string repr() const override;

 private:
  int64_t height_, width_, padding_;
};

/// Reverses the W dim with probability p. Any dtype. Always draws one number, so the streams
/// of later transforms do not depend on p.
class RandomHorizontalFlip final : public Transform {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  Tensor operator()(const Tensor& x, SampleRng& rng) const override;
  std::string repr() const override;

 private:
  double p_;
};

/// Applies transforms in order, all drawing from the same stream.
class Compose final : public Transform {
 public:
  explicit Compose(std::vector<TransformPtr> transforms);
  Tensor operator()(const Tensor& x, SampleRng& rng) const override;
  std::string repr() const override;

 private:
  std::vector<TransformPtr> transforms_;
};

}  // namespace ts::data
