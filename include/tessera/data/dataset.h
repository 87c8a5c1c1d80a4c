#pragma once
/// The dataset interface of the data pipeline (torch::data::Dataset, reduced to random access).
#include <cstdint>

#include "tessera/tensor.h"

namespace ts::data {

/// One sample: its input and (optionally: an undefined tensor) its target.
struct Example {
  Tensor data;
  Tensor target;
};

/// A random-access collection of samples. get() is called concurrently by a DataLoader's
/// worker threads, so implementations must be safe to call from several threads at once
/// (const and free of shared mutable state, or internally synchronized).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  /// Sample `index`, 0 <= index < size(). The returned tensors may alias the dataset's own
  /// storage: callers (transforms, collation) never write into them.
  virtual Example get(int64_t index) const = 0;
};

/// Samples are the rows (dim 0) of in-memory tensors, like torch.utils.data.TensorDataset.
class TensorDataset final : public Dataset {
 public:
  /// `targets` may be undefined (a dataset without targets); otherwise its size(0) must
  /// match `data`'s. Both are detached from autograd.
  explicit TensorDataset(const Tensor& data, const Tensor& targets = Tensor());
  int64_t size() const override { return data_.size(0); }
  /// {data[index], targets[index]}: views of the stored tensors.
  Example get(int64_t index) const override;

  const Tensor& data() const { return data_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor data_;
  Tensor targets_;
};

}  // namespace ts::data
