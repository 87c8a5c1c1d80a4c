// Tensor handle, factories, dtype conversion, views aliasing storage, printing.
#include "test_util.h"

using namespace ts;
using ts::test::require_values;

TEST_CASE("factories produce the requested shape, dtype and values", "[core]") {
  Tensor z = zeros({2, 3});
  REQUIRE(z.shape() == Shape{2, 3});
  REQUIRE(z.dtype() == kFloat32);
  REQUIRE(z.is_contiguous());
  require_values(z, {0, 0, 0, 0, 0, 0});
  require_values(ones({2}, kInt32), {1, 1});
  require_values(full({3}, 2.5, kFloat64), {2.5, 2.5, 2.5});
  REQUIRE(arange(5).dtype() == kInt64);
  require_values(arange(5), {0, 1, 2, 3, 4});
  REQUIRE(arange(0.0, 1.0, 0.25).dtype() == kFloat32);
  require_values(arange(0.0, 1.0, 0.25), {0, 0.25, 0.5, 0.75});
  require_values(arange(10, 0, -3), {10, 7, 4, 1});
  require_values(linspace(0, 1, 5), {0, 0.25, 0.5, 0.75, 1});
  require_values(eye(2, 3), {1, 0, 0, 0, 1, 0});
  REQUIRE(tensor<int64_t>({1, 2, 3}).dtype() == kInt64);
  REQUIRE(tensor<double>({1, 2}).dtype() == kFloat64);
  REQUIRE(tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3}).shape() == Shape{2, 3});
  REQUIRE(scalar_tensor(3).dtype() == kInt64);
  REQUIRE(scalar_tensor(3.0).item<float>() == 3.0f);
  REQUIRE(zeros_like(ones({4}, kFloat64)).dtype() == kFloat64);
}

TEST_CASE("from_blob wraps caller memory without copying and runs the deleter", "[core]") {
  std::vector<float> data{1, 2, 3, 4, 5, 6};
  bool deleted = false;
  {
    Tensor t = from_blob(data.data(), {2, 3}, kFloat32, [&](void*) { deleted = true; });
    REQUIRE(t.data_ptr<float>() == data.data());
    t.mul_(2);
    REQUIRE(data[5] == 12.0f);
    Tensor col = from_blob(data.data(), {3}, {2}, kFloat32);  // strided: every other element
    require_values(col, {2, 6, 10});
  }
  REQUIRE(deleted);
}

TEST_CASE("random streams are reproducible from the seed and independent of thread count", "[core]") {
  manual_seed(42);
  Tensor a = randn({1000});
  manual_seed(42);
  set_num_threads(1);
  Tensor b = randn({1000});
  set_num_threads(2);
  REQUIRE(equal(a, b));
  Tensor c = randn({1000});
  REQUIRE(!equal(a, c));
  // moments of 1e5 samples
  manual_seed(7);
  Tensor n = randn({100000}, kFloat64);
  REQUIRE(mean(n).item<double>() == Approx(0.0).margin(0.02));
  REQUIRE(ts::std(n).item<double>() == Approx(1.0).margin(0.02));
  Tensor u = rand({100000}, kFloat64);
  REQUIRE(min(u).item<double>() >= 0.0);
  REQUIRE(max(u).item<double>() < 1.0);
  REQUIRE(mean(u).item<double>() == Approx(0.5).margin(0.01));
  Tensor r = randint(3, 7, {1000});
  REQUIRE(r.dtype() == kInt64);
  REQUIRE(min(r).item<int64_t>() == 3);
  REQUIRE(max(r).item<int64_t>() == 6);
  auto perm = randperm(50).to_vector<int64_t>();
  std::sort(perm.begin(), perm.end());
  for (int64_t i = 0; i < 50; ++i) REQUIRE(perm[static_cast<size_t>(i)] == i);
}

TEST_CASE("views alias storage; contiguous and clone copy", "[core]") {
  Tensor x = arange(24, TensorOptions(kFloat32)).reshape({2, 3, 4});
  Tensor t = x.transpose(0, 2);
  REQUIRE(t.shape() == Shape{4, 3, 2});
  REQUIRE(!t.is_contiguous());
  REQUIRE(t.storage() == x.storage());
  REQUIRE(t.contiguous().is_contiguous());
  REQUIRE(t.contiguous().storage() != x.storage());
  Tensor s = x.slice(2, 1, std::nullopt, 2);  // columns 1 and 3
  require_values(s.select(0, 0).select(0, 0), {1, 3});
  s.fill_(-1);
  REQUIRE(x.select(0, 1).select(0, 2).to_vector<float>() == std::vector<float>{20, -1, 22, -1});
  Tensor e = tensor<float>({1, 2, 3}).unsqueeze(1).expand({3, 4});
  REQUIRE(e.stride(1) == 0);
  require_values(e.sum({1}), {4, 8, 12});
  REQUIRE(x.flatten().shape() == Shape{24});
  REQUIRE(x.flatten(1).shape() == Shape{2, 12});
  REQUIRE(x.view({-1, 4}).shape() == Shape{6, 4});
  REQUIRE(x.unsqueeze(-1).shape() == Shape{2, 3, 4, 1});
  REQUIRE(x.unsqueeze(-1).squeeze().shape() == Shape{2, 3, 4});
  REQUIRE(x.narrow(1, 1, 2).shape() == Shape{2, 2, 4});
  // reshape of a non-contiguous tensor copies; values follow row-major order of the view
  require_values(tensor<float>({1, 2, 3, 4}, {2, 2}).t().reshape({4}), {1, 3, 2, 4});
  Tensor c = x.clone();
  c.zero_();
  REQUIRE(x.sum().item<float>() != 0.0f);
}

TEST_CASE("dtype conversion follows PyTorch semantics", "[core]") {
  Tensor f = tensor<float>({-1.7f, 0.0f, 2.9f});
  require_values(f.to(kInt64), {-1, 0, 2});
  require_values(f.to(kBool), {1, 0, 1});
  require_values(f.to(kFloat16), {-1.7, 0.0, 2.9}, 2e-3);
  require_values(f.to(kBFloat16), {-1.7, 0.0, 2.9}, 2e-2);
  REQUIRE(f.to(kFloat16).element_size() == 2);
  // float16 arithmetic computes in float32 and rounds back
  Tensor h = ones({4}, kFloat16) * 3;
  REQUIRE(h.dtype() == kFloat16);
  require_values(h, {3, 3, 3, 3});
  REQUIRE(Half::to_float(Half::from_float(65504.0f)) == 65504.0f);
  REQUIRE(std::isinf(Half::to_float(Half::from_float(70000.0f))));
  REQUIRE(Half::to_float(Half::from_float(5.960464477539063e-08f)) == 5.960464477539063e-08f);  // smallest subnormal
  REQUIRE(Half::to_float(Half::from_float(1.0009765625f)) == 1.0009765625f);
  REQUIRE(static_cast<float>(BFloat16(1.00390625f)) == 1.0f);  // ties to even
}

TEST_CASE("type promotion matches PyTorch", "[core]") {
  REQUIRE(promote_types(kInt32, kFloat16) == kFloat16);
  REQUIRE(promote_types(kFloat16, kBFloat16) == kFloat32);
  REQUIRE(promote_types(kUInt8, kInt32) == kInt32);
  REQUIRE(promote_types(kBool, kUInt8) == kUInt8);
  REQUIRE(promote_types(kFloat32, kFloat64) == kFloat64);
  REQUIRE((ones({2}, kInt32) + ones({2}, kFloat64)).dtype() == kFloat64);
  REQUIRE((ones({2}, kInt32) + 1).dtype() == kInt32);
  REQUIRE((ones({2}, kInt32) + 1.5).dtype() == kFloat32);
  REQUIRE((ones({2}, kFloat16) + 1.5).dtype() == kFloat16);
  REQUIRE((ones({2}, kFloat32) + ones({}, kFloat64)).dtype() == kFloat32);  // 0-dim does not upgrade
  REQUIRE((ones({2}, kInt64) + ones({}, kFloat64)).dtype() == kFloat64);   // unless higher category
  REQUIRE((ones({2}, kInt64) / ones({2}, kInt64)).dtype() == kFloat32);    // true division
  REQUIRE((ones({2}) < 2).dtype() == kBool);
}

TEST_CASE("item, to_vector and data_ptr check dtype and size", "[core]") {
  Tensor t = tensor<double>({1.5, 2.5});
  REQUIRE(t.to_vector<double>() == std::vector<double>{1.5, 2.5});
  REQUIRE(t.data_ptr<double>()[1] == 2.5);
  REQUIRE_THROWS_WITH(t.data_ptr<float>(), Catch::Contains("data_ptr") && Catch::Contains("float64"));
  REQUIRE_THROWS_WITH(t.item<double>(), Catch::Contains("item") && Catch::Contains("[2]"));
  REQUIRE(t[1].item<double>() == 2.5);
}

TEST_CASE("printing looks like PyTorch", "[core]") {
  REQUIRE(tensor<float>({1.5f, -2.0f}).str() == "tensor([ 1.5000, -2.0000])");
  REQUIRE(tensor<int64_t>({1, 2, 3}).str() == "tensor([1, 2, 3])");
  REQUIRE(tensor<float>({1, 2, 3, 4}, {2, 2}).str() == "tensor([[1., 2.],\n        [3., 4.]])");
  REQUIRE(ones({2}, kFloat64).str() == "tensor([1., 1.], dtype=float64)");
  Tensor w = ones({2}).requires_grad_();
  REQUIRE(w.str() == "tensor([1., 1.], requires_grad=True)");
  REQUIRE((w * 2).str().find("grad_fn=<mul>") != std::string::npos);
  REQUIRE(scalar_tensor(2.5).str() == "tensor(2.5000)");
  REQUIRE(tensor<bool>({true, false}).str() == "tensor([ True, False])");
  REQUIRE(zeros({2000}).str().find("...") != std::string::npos);
  std::ostringstream os;
  os << Tensor();
  REQUIRE(os.str() == "[ Tensor (undefined) ]");
}

TEST_CASE("devices parse and unavailable devices raise", "[core]") {
  REQUIRE(Device("cpu").is_cpu());
  REQUIRE(Device("cuda:1").index == 1);
  REQUIRE_THROWS_WITH(Device("tpu"), Catch::Contains("unknown device 'tpu'"));
  REQUIRE(is_available(kCPU));
  if (!is_available(kCUDA)) {
    REQUIRE_THROWS_WITH(zeros({2}, TensorOptions(Device(kCUDA))), Catch::Contains("cuda"));
  }
}
