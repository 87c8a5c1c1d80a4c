#include "tessera/data/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ts::data {
namespace {

Tensor cpu_contiguous(const Tensor& x, const char* op, int64_t min_dims, const char* layout) {
  TS_CHECK(x.defined() && x.dim() >= min_dims, "{}: expected a {} tensor but got {}", op, layout,
           x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
  TS_CHECK(x.is_cpu(), "{}: expected a CPU tensor but got one on {}; transforms run in the data pipeline on the "
           "host", op, x.device().str());
  return x.contiguous();
}

/// Shape of `x` with its last two dims replaced.
Shape with_hw(const Shape& shape, int64_t h, int64_t w) {
  Shape out = shape;
  out[out.size() - 2] = h;
  out[out.size() - 1] = w;
  return out;
}

template <typename Word>
void reverse_rows(const void* src, void* dst, int64_t rows, int64_t width) {
  const auto* s = static_cast<const Word*>(src);
  auto* d = static_cast<Word*>(dst);
  for (int64_t r = 0; r < rows; ++r) std::reverse_copy(s + r * width, s + (r + 1) * width, d + r * width);
}

}  // namespace

// ---- Normalize -------------------------------------------------------------------------------

Normalize::Normalize(std::vector<double> mean, std::vector<double> std) : mean_(std::move(mean)), std_(std::move(std)) {
  TS_CHECK(!mean_.empty() && mean_.size() == std_.size(),
           "Normalize: mean and std need the same number of values (one per channel), got {} and {}", mean_.size(),
           std_.size());
  for (size_t c = 0; c < std_.size(); ++c) {
    TS_CHECK(std::isfinite(mean_[c]) && std::isfinite(std_[c]) && std_[c] > 0,
             "Normalize: channel {} has mean {} and std {}; std must be positive and both finite", c, mean_[c],
             std_[c]);
  }
}

Tensor Normalize::operator()(const Tensor& x, SampleRng& /*rng*/) const {
  const Tensor src = cpu_contiguous(x, "Normalize", 3, "(..., C, H, W)");
  TS_CHECK(src.dtype() == kFloat32 || src.dtype() == kFloat64,
           "Normalize: expected a float32 or float64 tensor but got {} of shape {}; convert images to float first",
           dtype_name(src.dtype()), shape_str(src.shape()));
  const int64_t channels = src.size(src.dim() - 3);
  const auto nvalues = static_cast<int64_t>(mean_.size());
  TS_CHECK(nvalues == 1 || nvalues == channels,
           "Normalize: {} mean/std values do not match the {} channels (dim -3) of a tensor of shape {}", nvalues,
           channels, shape_str(src.shape()));
  Tensor out = make_tensor(src.shape(), src.dtype(), src.device());
  const int64_t plane = src.size(src.dim() - 2) * src.size(src.dim() - 1);
  const int64_t outer = channels * plane == 0 ? 0 : src.numel() / (channels * plane);
  TS_DISPATCH_FLOATING(src.dtype(), "Normalize", [&] {
    const scalar_t* in = src.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    for (int64_t n = 0; n < outer; ++n) {
      for (int64_t c = 0; c < channels; ++c) {
        const auto v = static_cast<size_t>(nvalues == 1 ? 0 : c);
        const auto m = static_cast<scalar_t>(mean_[v]);
        const auto s = static_cast<scalar_t>(std_[v]);
        const int64_t base = (n * channels + c) * plane;
        for (int64_t i = 0; i < plane; ++i) o[base + i] = (in[base + i] - m) / s;
      }
    }
  });
  return out;
}

std::string Normalize::repr() const {
  return fmt::format("Normalize(mean=[{}], std=[{}])", fmt::join(mean_, ", "), fmt::join(std_, ", "));
}

// ---- RandomCrop ------------------------------------------------------------------------------

RandomCrop::RandomCrop(int64_t height, int64_t width, int64_t padding)
    : height_(height), width_(width), padding_(padding) {
  TS_CHECK(height > 0 && width > 0 && padding >= 0,
           "RandomCrop: expected a positive size and a non-negative padding, got size ({}, {}) and padding {}", height,
           width, padding);
}

Tensor RandomCrop::operator()(const Tensor& x, SampleRng& rng) const {
  const Tensor src = cpu_contiguous(x, "RandomCrop", 2, "(..., H, W)");
  const int64_t h = src.size(src.dim() - 2), w = src.size(src.dim() - 1);
  const int64_t padded_h = h + 2 * padding_, padded_w = w + 2 * padding_;
  TS_CHECK(height_ <= padded_h && width_ <= padded_w,
           "RandomCrop: a {}x{} crop does not fit an image of shape {} padded by {} on each side ({}x{})", height_,
           width_, shape_str(src.shape()), padding_, padded_h, padded_w);
  const int64_t top = rng.randint(0, padded_h - height_ + 1);
  const int64_t left = rng.randint(0, padded_w - width_ + 1);

  Tensor out = make_tensor(with_hw(src.shape(), height_, width_), src.dtype(), src.device());
  std::memset(out.raw_data(), 0, out.nbytes());  // zero bits are 0 in every dtype: the padding
  if (h * w == 0) return out;
  const int64_t planes = src.numel() / (h * w);
  const size_t es = src.element_size();
  const auto* in = static_cast<const unsigned char*>(src.raw_data());
  auto* o = static_cast<unsigned char*>(out.raw_data());
  // Output column c reads source column left + c - padding; keep the ones inside the image.
  const int64_t c0 = std::max<int64_t>(0, padding_ - left);
  const int64_t c1 = std::min<int64_t>(width_, w + padding_ - left);
  if (c1 <= c0) return out;
  const size_t row_bytes = static_cast<size_t>(c1 - c0) * es;
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t r = 0; r < height_; ++r) {
      const int64_t sr = top + r - padding_;
      if (sr < 0 || sr >= h) continue;
      const int64_t src_index = (p * h + sr) * w + (left + c0 - padding_);
      const int64_t dst_index = (p * height_ + r) * width_ + c0;
      std::memcpy(o + static_cast<size_t>(dst_index) * es, in + static_cast<size_t>(src_index) * es, row_bytes);
    }
  }
  return out;
}

std::string RandomCrop::repr() const {
  return fmt::format("RandomCrop(size=({}, {}), padding={})", height_, width_, padding_);
}

// ---- RandomHorizontalFlip ----------------------------------------------------------------------

RandomHorizontalFlip::RandomHorizontalFlip(double p) : p_(p) {
  TS_CHECK(p >= 0.0 && p <= 1.0, "RandomHorizontalFlip: p must be a probability in [0, 1], got {}", p);
}

Tensor RandomHorizontalFlip::operator()(const Tensor& x, SampleRng& rng) const {
  const bool flip = rng.bernoulli(p_);
  const Tensor src = cpu_contiguous(x, "RandomHorizontalFlip", 2, "(..., H, W)");
  if (!flip) return src;
  Tensor out = make_tensor(src.shape(), src.dtype(), src.device());
  const int64_t w = src.size(src.dim() - 1);
  if (w == 0 || src.numel() == 0) return out;
  const int64_t rows = src.numel() / w;
  switch (src.element_size()) {
    case 1: reverse_rows<uint8_t>(src.raw_data(), out.raw_data(), rows, w); break;
    case 2: reverse_rows<uint16_t>(src.raw_data(), out.raw_data(), rows, w); break;
    case 4: reverse_rows<uint32_t>(src.raw_data(), out.raw_data(), rows, w); break;
    case 8: reverse_rows<uint64_t>(src.raw_data(), out.raw_data(), rows, w); break;
    default: TS_ERROR("RandomHorizontalFlip: unsupported dtype {}", dtype_name(src.dtype()));
  }
  return out;
}

std::string RandomHorizontalFlip::repr() const { return fmt::format("RandomHorizontalFlip(p={})", p_); }

// ---- Compose -----------------------------------------------------------------------------------

Compose::Compose(std::vector<TransformPtr> transforms) : transforms_(std::move(transforms)) {
  for (size_t i = 0; i < transforms_.size(); ++i) {
    TS_CHECK(transforms_[i] != nullptr, "Compose: transform {} of {} is null", i, transforms_.size());
  }
}

Tensor Compose::operator()(const Tensor& x, SampleRng& rng) const {
  Tensor y = x;
  for (const auto& t : transforms_) y = (*t)(y, rng);
  return y;
}

std::string Compose::repr() const {
  std::string s = "Compose(";
  for (const auto& t : transforms_) s += "\n    " + t->repr() + ",";
  return s + (transforms_.empty() ? ")" : "\n)");
}

}  // namespace ts::data
