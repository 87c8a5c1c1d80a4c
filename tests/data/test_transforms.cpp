// Transforms (Normalize, RandomCrop, RandomHorizontalFlip, Compose) and the counter-based
// SampleRng / epoch_order they and the DataLoader draw from.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <set>
#include <vector>

#include "tessera/data/random.h"
#include "tessera/data/transforms.h"
#include "tessera/tessera.h"

using Catch::Contains;
using namespace ts::data;

namespace {

/// (C, H, W) float32 image with pixel (c, y, x) = 100c + 10y + x.
ts::Tensor pattern(int64_t c, int64_t h, int64_t w, ts::DType dtype = ts::kFloat32) {
  std::vector<float> v;
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) v.push_back(static_cast<float>(100 * k + 10 * y + x));
  return ts::tensor<float>(v, {c, h, w}).to(dtype);
}

bool same_bytes(const ts::Tensor& a, const ts::Tensor& b) {
  const ts::Tensor ca = a.contiguous(), cb = b.contiguous();
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

}  // namespace

TEST_CASE("SampleRng: streams depend only on (seed, epoch, index, purpose)", "[data]") {
  SampleRng a(7, 2, 11), b(7, 2, 11);
  std::vector<uint32_t> va, vb;
  for (int i = 0; i < 10; ++i) {
    va.push_back(a.next_u32());
    vb.push_back(b.next_u32());
  }
  REQUIRE(va == vb);
  // Any change of seed, epoch, stream or purpose gives a different stream.
  for (SampleRng other : {SampleRng(8, 2, 11), SampleRng(7, 3, 11), SampleRng(7, 2, 12),
                          SampleRng(7, 2, 11, SampleRng::Purpose::Shuffle)}) {
    std::vector<uint32_t> vo;
    for (int i = 0; i < 10; ++i) vo.push_back(other.next_u32());
    REQUIRE(vo != va);
  }
  SampleRng r(1, 0, 0);
  std::set<int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const double u = r.uniform();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    const int64_t k = r.randint(-3, 4);
    REQUIRE(k >= -3);
    REQUIRE(k < 4);
    seen.insert(k);
  }
  REQUIRE(seen.size() == 7);
  REQUIRE(r.randint(5, 6) == 5);
  REQUIRE_THROWS_WITH(r.randint(3, 3), Contains("randint") && Contains("low < high"));
  REQUIRE_THROWS_WITH(SampleRng(0, 0, uint64_t{1} << 32), Contains("stream 4294967296 is out of range"));
}

TEST_CASE("epoch_order is a seeded permutation, identity without shuffle", "[data]") {
  const auto id = epoch_order(10, false, 3, 5);
  REQUIRE(id == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  const auto e0 = epoch_order(1000, true, 3, 0);
  REQUIRE(e0 == epoch_order(1000, true, 3, 0));
  REQUIRE(e0 != epoch_order(1000, true, 3, 1));
  REQUIRE(e0 != epoch_order(1000, true, 4, 0));
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  REQUIRE(sorted == epoch_order(1000, false, 0, 0));
  REQUIRE(e0 != sorted);
  REQUIRE(epoch_order(0, true, 1, 1).empty());
  REQUIRE(epoch_order(1, true, 1, 1) == std::vector<int64_t>{0});
  // Every position receives every element about equally often over many epochs.
  std::vector<int> first(5, 0);
  for (uint64_t e = 0; e < 5000; ++e) ++first[static_cast<size_t>(epoch_order(5, true, 9, e)[0])];
  for (int count : first) REQUIRE(std::abs(count - 1000) < 150);
}

TEST_CASE("Normalize subtracts the mean and divides by the std per channel", "[data]") {
  SampleRng rng(0, 0, 0);
  const ts::Tensor x = pattern(2, 2, 2);  // channel 0: 0 1 10 11, channel 1: 100 101 110 111
  Normalize norm({1.0, 100.0}, {2.0, 0.5});
  const ts::Tensor y = norm(x, rng);
  REQUIRE(y.dtype() == ts::kFloat32);
  REQUIRE(y.shape() == ts::Shape{2, 2, 2});
  REQUIRE(y.to_vector<float>() == std::vector<float>{-0.5f, 0.0f, 4.5f, 5.0f, 0.0f, 2.0f, 20.0f, 22.0f});
  REQUIRE(x.to_vector<float>()[0] == 0.0f);  // input untouched

  // Computed in float32 like torchvision: (x - mean) / std with float32 mean and std.
  Normalize cifar({0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616});
  const ts::Tensor img = ts::rand({3, 4, 4});
  const ts::Tensor out = cifar(img, rng);
  const auto in = img.to_vector<float>();
  const auto got = out.to_vector<float>();
  const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std_[3] = {0.2470f, 0.2435f, 0.2616f};
  for (size_t i = 0; i < in.size(); ++i) REQUIRE(got[i] == (in[i] - mean[i / 16]) / std_[i / 16]);

  // float64, a batch dim, a non-contiguous input and one value for all channels.
  const ts::Tensor batch = pattern(4, 2, 3, ts::kFloat64).reshape({2, 2, 2, 3}).transpose(2, 3).contiguous()
                               .transpose(2, 3);
  REQUIRE_FALSE(batch.is_contiguous());
  const ts::Tensor nb = Normalize({10.0}, {4.0})(batch, rng);
  REQUIRE(nb.dtype() == ts::kFloat64);
  const auto bv = batch.contiguous().to_vector<double>();
  const auto nv = nb.to_vector<double>();
  for (size_t i = 0; i < bv.size(); ++i) REQUIRE(nv[i] == (bv[i] - 10.0) / 4.0);

  REQUIRE_THROWS_WITH(Normalize({0.5, 0.5}, {1.0}), Contains("Normalize") && Contains("got 2 and 1"));
  REQUIRE_THROWS_WITH(Normalize({0.5}, {0.0}), Contains("std must be positive"));
  REQUIRE_THROWS_WITH(norm(pattern(3, 2, 2), rng), Contains("2 mean/std values do not match the 3 channels") &&
                                                       Contains("[3, 2, 2]"));
  REQUIRE_THROWS_WITH(norm(pattern(2, 2, 2, ts::kUInt8), rng), Contains("Normalize: expected a float32 or float64") &&
                                                                   Contains("uint8"));
  REQUIRE_THROWS_WITH(norm(ts::ones({4, 4}), rng), Contains("Normalize: expected a (..., C, H, W) tensor") &&
                                                       Contains("[4, 4]"));
  REQUIRE(norm.repr() == "Normalize(mean=[1, 100], std=[2, 0.5])");
}

TEST_CASE("RandomCrop takes a window of the zero-padded image", "[data]") {
  const ts::Tensor x = pattern(2, 5, 6);
  const RandomCrop crop(4, 3, 2);  // 4 x 3 out of the 9 x 10 padded image
  std::set<std::pair<int64_t, int64_t>> offsets;
  for (uint64_t s = 0; s < 400; ++s) {
    SampleRng rng(s, 0, 0);
    SampleRng replay = rng;
    const int64_t top = replay.randint(0, 9 - 4 + 1), left = replay.randint(0, 10 - 3 + 1);
    offsets.insert({top, left});
    const ts::Tensor y = crop(x, rng);
    REQUIRE(y.shape() == ts::Shape{2, 4, 3});
    REQUIRE(rng.next_u32() == replay.next_u32());  // drew exactly two numbers
    const auto v = y.to_vector<float>();
    for (int64_t c = 0; c < 2; ++c) {
      for (int64_t r = 0; r < 4; ++r) {
        for (int64_t k = 0; k < 3; ++k) {
          const int64_t sy = top + r - 2, sx = left + k - 2;
          const float expected = (sy >= 0 && sy < 5 && sx >= 0 && sx < 6) ? static_cast<float>(100 * c + 10 * sy + sx)
                                                                          : 0.0f;
          REQUIRE(v[static_cast<size_t>((c * 4 + r) * 3 + k)] == expected);
        }
      }
    }
  }
  REQUIRE(offsets.size() == 6 * 8);  // every window position occurs

  // No padding and a full-size crop is the identity; any dtype works (uint8 images).
  SampleRng rng(1, 2, 3);
  const ts::Tensor bytes = pattern(3, 4, 4, ts::kUInt8);
  REQUIRE(same_bytes(RandomCrop(4, 0)(bytes, rng), bytes));
  const ts::Tensor cropped = RandomCrop(2, 0)(bytes, rng);
  REQUIRE(cropped.dtype() == ts::kUInt8);
  REQUIRE(cropped.shape() == ts::Shape{3, 2, 2});

  REQUIRE_THROWS_WITH(RandomCrop(10, 2)(pattern(1, 5, 6), rng),
                      Contains("RandomCrop: a 10x10 crop does not fit an image of shape [1, 5, 6] padded by 2"));
  REQUIRE_THROWS_WITH(RandomCrop(0, 1), Contains("RandomCrop") && Contains("positive size"));
  REQUIRE_THROWS_WITH(RandomCrop(3, -1), Contains("non-negative padding"));
  REQUIRE_THROWS_WITH(crop(ts::ones({5}), rng), Contains("RandomCrop: expected a (..., H, W) tensor"));
  REQUIRE(crop.repr() == "RandomCrop(size=(4, 3), padding=2)");
}

TEST_CASE("RandomHorizontalFlip mirrors W with probability p", "[data]") {
  const ts::Tensor x = pattern(2, 2, 3);
  SampleRng rng(0, 0, 0);
  const ts::Tensor flipped = RandomHorizontalFlip(1.0)(x, rng);
  REQUIRE(flipped.to_vector<float>() == std::vector<float>{2, 1, 0, 12, 11, 10, 102, 101, 100, 112, 111, 110});
  REQUIRE(same_bytes(RandomHorizontalFlip(0.0)(x, rng), x));
  // Every element size: bool, float16, float64, int64.
  for (ts::DType dt : {ts::kBool, ts::kFloat16, ts::kFloat64, ts::kInt64}) {
    const ts::Tensor t = pattern(1, 2, 3, dt);
    const auto v = t.to_vector<double>();
    const ts::Tensor f = RandomHorizontalFlip(1.0)(t, rng);
    REQUIRE(f.dtype() == dt);
    REQUIRE(f.to_vector<double>() == std::vector<double>{v[2], v[1], v[0], v[5], v[4], v[3]});
    const ts::Tensor twice = RandomHorizontalFlip(1.0)(RandomHorizontalFlip(1.0)(t, rng), rng);
    REQUIRE(same_bytes(twice, t));
  }

  // One draw whatever p is, so later transforms see the same stream.
  SampleRng a(5, 1, 9), b(5, 1, 9);
  (void)RandomHorizontalFlip(0.0)(x, a);
  (void)RandomHorizontalFlip(1.0)(x, b);
  REQUIRE(a.next_u32() == b.next_u32());

  int flips = 0;
  const RandomHorizontalFlip half(0.5);
  for (uint64_t i = 0; i < 2000; ++i) {
    SampleRng r(42, 0, i);
    flips += same_bytes(half(x, r), flipped) ? 1 : 0;
  }
  REQUIRE(flips > 900);
  REQUIRE(flips < 1100);
  REQUIRE_THROWS_WITH(RandomHorizontalFlip(1.5), Contains("RandomHorizontalFlip: p must be a probability"));
  REQUIRE(half.repr() == "RandomHorizontalFlip(p=0.5)");
}

TEST_CASE("Compose applies transforms in order from one stream, reproducibly", "[data]") {
  const Compose augment({std::make_shared<RandomCrop>(32, 4), std::make_shared<RandomHorizontalFlip>(),
                         std::make_shared<Normalize>(std::vector<double>{0.5, 0.5, 0.5},
                                                     std::vector<double>{0.25, 0.25, 0.25})});
  const ts::Tensor img = ts::rand({3, 32, 32});
  const ts::Tensor before = img.clone();

  // Same as applying the three by hand to one stream.
  SampleRng r1(3, 1, 17), r2(3, 1, 17);
  const ts::Tensor composed = augment(img, r1);
  ts::Tensor manual = RandomCrop(32, 4)(img, r2);
  manual = RandomHorizontalFlip()(manual, r2);
  manual = Normalize({0.5}, {0.25})(manual, r2);
  REQUIRE(same_bytes(composed, manual));
  REQUIRE(same_bytes(img, before));  // the input is never written

  // Deterministic per (seed, epoch, index); other samples get other augmentations.
  SampleRng again(3, 1, 17);
  REQUIRE(same_bytes(augment(img, again), composed));
  int differing = 0;
  for (uint64_t i = 0; i < 20; ++i) {
    SampleRng r(3, 1, i);
    differing += same_bytes(augment(img, r), composed) ? 0 : 1;
  }
  REQUIRE(differing >= 18);

  REQUIRE(Compose({})(img, r1).is_same(img));
  REQUIRE_THROWS_WITH(Compose({nullptr}), Contains("Compose: transform 0 of 1 is null"));
  REQUIRE(augment.repr() ==
          "Compose(\n    RandomCrop(size=(32, 32), padding=4),\n    RandomHorizontalFlip(p=0.5),\n"
          "    Normalize(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25]),\n)");
}
