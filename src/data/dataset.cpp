#include "tessera/data/dataset.h"

namespace ts::data {

TensorDataset::TensorDataset(const Tensor& data, const Tensor& targets) {
  TS_CHECK(data.defined() && data.dim() >= 1, "TensorDataset: data must be a tensor of at least 1 dim (samples "
           "along dim 0), got {}", data.defined() ? shape_str(data.shape()) : std::string("an undefined tensor"));
  if (targets.defined()) {
    TS_CHECK(targets.dim() >= 1 && targets.size(0) == data.size(0),
             "TensorDataset: data of shape {} holds {} samples but targets have shape {}; both need the same size "
             "along dim 0", shape_str(data.shape()), data.size(0), shape_str(targets.shape()));
    targets_ = targets.detach();
  }
  data_ = data.detach();
}

Example TensorDataset::get(int64_t index) const {
  TS_CHECK(index >= 0 && index < size(), "TensorDataset: index {} is out of range for a dataset of {} samples", index,
           size());
  return {data_.select(0, index), targets_.defined() ? targets_.select(0, index) : Tensor()};
}

}  // namespace ts::data
