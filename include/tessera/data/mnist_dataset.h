#pragma once
/// MNIST as a Dataset (the files are read by tessera/data/mnist.h).
#include <string>

#include "tessera/data/dataset.h"
#include "tessera/data/mnist.h"

namespace ts::data {

/// data: float32 (1, 28, 28) scaled to [0, 1]; target: int64 scalar digit.
class MNIST final : public Dataset {
 public:
  /// Loads the split with load_mnist(dir, set).
  MNIST(const std::string& dir, MnistSet set);
  explicit MNIST(MnistSplit split);
  int64_t size() const override { return split_.size(); }
  Example get(int64_t index) const override;
  const MnistSplit& split() const { return split_; }

 private:
  MnistSplit split_;
};

}  // namespace ts::data
