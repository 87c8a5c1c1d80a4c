#include "image_example.h"

namespace ts::data::detail {

Example image_example(const Tensor& images, const Tensor& labels, int64_t index, const Shape& shape,
                      const char* dataset) {
  const int64_t n = labels.numel();
  TS_CHECK(index >= 0 && index < n, "{}: index {} is out of range for a dataset of {} images", dataset, index, n);
  const int64_t pixels = numel_of(shape);
  Tensor data = make_tensor(shape, kFloat32, Device());
  const uint8_t* src = images.data_ptr<uint8_t>() + index * pixels;
  float* dst = data.data_ptr<float>();
  // Division (not multiplication by 1/255) matches torchvision's ToTensor bit for bit.
  for (int64_t i = 0; i < pixels; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
  Tensor target = make_tensor({}, kInt64, Device());
  *target.data_ptr<int64_t>() = labels.data_ptr<int64_t>()[index];
  return {std::move(data), std::move(target)};
}

}  // namespace ts::data::detail

namespace ts::data::detail {

std::string describe(const Tensor& t) {
  return t.defined() ? fmt::format("{} {}", dtype_name(t.dtype()), shape_str(t.shape())) : "none";
}

}  // namespace ts::data::detail
