#include "tessera/data/mnist_dataset.h"

#include "image_example.h"

namespace ts::data {

MNIST::MNIST(const std::string& dir, MnistSet set) : MNIST(load_mnist(dir, set)) {}

MNIST::MNIST(MnistSplit split) : split_(std::move(split)) {
  TS_CHECK(split_.images.defined() && split_.labels.defined() && split_.images.dtype() == kUInt8 &&
               split_.images.dim() == 3 && split_.images.size(1) == 28 && split_.images.size(2) == 28 &&
               split_.labels.dtype() == kInt64 && split_.labels.dim() == 1 &&
               split_.labels.size(0) == split_.images.size(0),
           "MNIST: expected uint8 images (N, 28, 28) and int64 labels (N), got {} and {}",
           detail::describe(split_.images), detail::describe(split_.labels));
  split_.images = split_.images.contiguous();
  split_.labels = split_.labels.contiguous();
}

Example MNIST::get(int64_t index) const {
  return detail::image_example(split_.images, split_.labels, index, {1, 28, 28}, "MNIST");
}

}  // namespace ts::data
