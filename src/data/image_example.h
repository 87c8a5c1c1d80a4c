#pragma once
// Shared by the image datasets (MNIST, CIFAR10).
#include <string>

#include "tessera/data/dataset.h"

namespace ts::data::detail {

/// Sample `index` of uint8 (N, ...) `images` and int64 (N) `labels`: float32 pixels in [0, 1]
/// (torchvision's ToTensor) of `shape`, and an int64 scalar label. `dataset` names errors.
Example image_example(const Tensor& images, const Tensor& labels, int64_t index, const Shape& shape,
                      const char* dataset);

/// "uint8 [N, 3, 32, 32]" or "none", for error messages.
std::string describe(const Tensor& t);

}  // namespace ts::data::detail
