// conv2d: values and gradients against PyTorch (float64 and float32) under both CPU schedules
// (per-image and whole-batch GEMM), float64 gradchecks over stride/padding/dilation/groups/bias
// and strided inputs, 16-bit inputs, and the argument errors.
#include "golden/nn_golden.h"
#include "test_util.h"

using namespace ts;
using golden::nn::GoldenArray;
using golden::nn::to_tensor;
using test::rand_input;
using test::rand_input_transposed;
using test::require_close;
using test::require_gradcheck;

namespace {

using test::ThreadCount;

struct ConvCase {
  const char* name;
  const GoldenArray *x, *w, *b, *y;
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups;
  const GoldenArray *gy, *gx, *gw, *gb;  // null when no backward golden
};

std::vector<ConvCase> conv_cases() {
  using namespace golden::nn;
  return {
      {"basic", &conv_basic_x, &conv_basic_w, &conv_basic_b, &conv_basic_y, {1, 1}, {0, 0}, {1, 1}, 1, nullptr,
       nullptr, nullptr, nullptr},
      {"strided", &conv_strided_x, &conv_strided_w, &conv_strided_b, &conv_strided_y, {2, 1}, {1, 2}, {1, 2}, 1,
       &conv_strided_gy, &conv_strided_gx, &conv_strided_gw, &conv_strided_gb},
      {"groups", &conv_groups_x, &conv_groups_w, nullptr, &conv_groups_y, {2, 2}, {1, 1}, {2, 1}, 2, &conv_groups_gy,
       &conv_groups_gx, &conv_groups_gw, nullptr},
      {"depthwise", &conv_depthwise_x, &conv_depthwise_w, &conv_depthwise_b, &conv_depthwise_y, {1}, {1}, {1}, 3,
       nullptr, nullptr, nullptr, nullptr},
      {"pointwise", &conv_pointwise_x, &conv_pointwise_w, &conv_pointwise_b, &conv_pointwise_y, {1, 1}, {0, 0}, {1, 1},
       1, &conv_pointwise_gy, &conv_pointwise_gx, &conv_pointwise_gw, &conv_pointwise_gb},
  };
}

void check_case(const ConvCase& c, DType dt, double rtol, double atol) {
  INFO("case " << c.name << ", dtype " << dt);
  Tensor x = to_tensor(*c.x, dt).requires_grad_();
  Tensor w = to_tensor(*c.w, dt).requires_grad_();
  Tensor b = c.b ? to_tensor(*c.b, dt).requires_grad_() : Tensor();
  Tensor y = conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
  REQUIRE(y.dtype() == dt);
  require_close(y, to_tensor(*c.y), rtol, atol);
  if (!c.gy) return;
  y.backward(to_tensor(*c.gy, dt));
  require_close(x.grad(), to_tensor(*c.gx), rtol, atol);
  require_close(w.grad(), to_tensor(*c.gw), rtol, atol);
  if (c.gb) require_close(b.grad(), to_tensor(*c.gb), rtol, atol);
}

}  // namespace

TEST_CASE("conv2d matches PyTorch in float64 and float32 under both schedules", "[nn][conv]") {
  // 1 thread: both images in one block. 2 threads: one chunk (and GEMM) per image, partial
  // weight gradients summed. 4 threads with a batch of 1 or 2: one GEMM over the batch.
  for (int threads : {1, 2, 4}) {
    ThreadCount tc(threads);
    INFO("threads " << threads);
    for (const ConvCase& c : conv_cases()) {
      check_case(c, kFloat64, 1e-10, 1e-10);
      check_case(c, kFloat32, 1e-4, 1e-4);
    }
  }
}

TEST_CASE("conv2d: batch of one, unbatched input and output shapes", "[nn][conv]") {
  using namespace golden::nn;
  const Tensor x = to_tensor(conv_strided_x), w = to_tensor(conv_strided_w), b = to_tensor(conv_strided_b);
  const Tensor y = to_tensor(conv_strided_y);
  for (int threads : {1, 4}) {
    ThreadCount tc(threads);
    // image 1 alone, batched and as a 3-d (C, H, W) input
    require_close(conv2d(x.narrow(0, 1, 1), w, b, {2, 1}, {1, 2}, {1, 2}), y.narrow(0, 1, 1), 1e-10, 1e-10);
    const Tensor y3 = conv2d(x.select(0, 1), w, b, {2, 1}, {1, 2}, {1, 2});
    REQUIRE(y3.shape() == Shape{4, 3, 9});
    require_close(y3, y.select(0, 1), 1e-10, 1e-10);
    // a pointwise conv on a single image maps the input directly (no im2col)
    require_close(conv2d(to_tensor(conv_pointwise_x).narrow(0, 0, 1), to_tensor(conv_pointwise_w),
                         to_tensor(conv_pointwise_b)),
                  to_tensor(conv_pointwise_y).narrow(0, 0, 1), 1e-10, 1e-10);
  }
  // (H + 2p - d(k-1) - 1) / s + 1 per dim
  REQUIRE(conv2d(zeros({1, 2, 7, 8}), zeros({3, 2, 3, 2}), Tensor(), {2, 3}, {1, 0}, {2, 1}).shape() ==
          Shape{1, 3, 3, 3});
  // an empty batch gives an empty output, and zero gradients for the weight and bias
  Tensor w0 = rand_input({3, 2, 3, 3}), b0 = rand_input({3});
  Tensor e = conv2d(zeros({0, 2, 5, 5}, kFloat64), w0, b0);
  REQUIRE(e.shape() == Shape{0, 3, 3, 3});
  sum(e).backward();
  require_close(w0.grad(), zeros({3, 2, 3, 3}, kFloat64));
  require_close(b0.grad(), zeros({3}, kFloat64));
}

TEST_CASE("conv2d: gradients only for the inputs that need them", "[nn][conv]") {
  Tensor x = rand_input({2, 3, 5, 5});
  Tensor w = randn({4, 3, 3, 3}, kFloat64);
  Tensor b = randn({4}, kFloat64);
  sum(conv2d(x, w, b, {1}, {1})).backward();
  REQUIRE(x.grad().defined());
  REQUIRE(!w.grad().defined());
  Tensor x2 = randn({2, 3, 5, 5}, kFloat64);
  Tensor w2 = rand_input({4, 3, 3, 3});
  sum(conv2d(x2, w2)).backward();
  REQUIRE(w2.grad().defined());
  REQUIRE(!x2.grad().defined());
}

TEST_CASE("gradcheck: conv2d over stride, padding, dilation, groups and bias", "[nn][conv][gradcheck]") {
  struct Cfg {
    Shape x, w;
    bool bias;
    std::vector<int64_t> stride, padding, dilation;
    int64_t groups;
  };
  const std::vector<Cfg> cfgs = {
      {{2, 3, 5, 5}, {2, 3, 3, 3}, true, {1, 1}, {0, 0}, {1, 1}, 1},
      {{2, 2, 6, 5}, {3, 2, 3, 2}, true, {2, 1}, {1, 2}, {1, 1}, 1},
      {{1, 2, 7, 7}, {2, 2, 2, 3}, false, {1, 2}, {2, 1}, {2, 3}, 1},
      {{2, 4, 5, 4}, {6, 2, 3, 3}, true, {2, 2}, {1, 1}, {1, 1}, 2},
      {{1, 3, 5, 5}, {3, 1, 3, 3}, true, {1, 1}, {1, 1}, {2, 2}, 3},  // depthwise, dilated
      {{3, 4, 3, 3}, {2, 4, 1, 1}, true, {1, 1}, {0, 0}, {1, 1}, 1},  // pointwise
      {{1, 4, 3, 3}, {4, 2, 1, 1}, false, {1, 1}, {0, 0}, {1, 1}, 2},  // grouped pointwise, one image
      {{5, 2, 3, 4}, {3, 2, 2, 2}, true, {1, 1}, {1, 0}, {1, 1}, 1},  // chunks of several images
  };
  for (int threads : {1, 2, 4}) {
    ThreadCount tc(threads);
    for (size_t i = 0; i < cfgs.size(); ++i) {
      const Cfg& c = cfgs[i];
      INFO("config " << i << ", threads " << threads);
      std::vector<Tensor> in = {rand_input(c.x), rand_input(c.w)};
      if (c.bias) in.push_back(rand_input({c.w[0]}));
      require_gradcheck(
          [&](const std::vector<Tensor>& v) {
            return conv2d(v[0], v[1], c.bias ? v[2] : Tensor(), c.stride, c.padding, c.dilation, c.groups);
          },
          in);
    }
  }
}

TEST_CASE("gradcheck: conv2d with strided (non-contiguous) and unbatched inputs", "[nn][conv][gradcheck]") {
  // x is a transposed view; the weight is a slice of a larger tensor.
  Tensor x = rand_input_transposed({2, 2, 5, 4});
  REQUIRE(!x.is_contiguous());
  Tensor wbase = randn({3, 4, 3, 3}, kFloat64);
  Tensor w = wbase.slice(1, 0, 4, 2);
  w.requires_grad_(true);
  REQUIRE(!w.is_contiguous());
  Tensor b = rand_input({3});
  require_gradcheck([](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], {1, 2}, {1, 1}); }, {x, w, b});
  require_gradcheck([](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], {1}, {1}); },
                    {rand_input({2, 4, 4}), rand_input({3, 2, 3, 3}), rand_input({3})});
}

TEST_CASE("conv2d computes float16 and bfloat16 inputs in float32", "[nn][conv]") {
  const Tensor x = randn({2, 3, 6, 6}), w = randn({4, 3, 3, 3}) * 0.3, b = randn({4});
  const Tensor ref = conv2d(x, w, b, {1}, {1});
  for (DType dt : {kFloat16, kBFloat16}) {
    INFO("dtype " << dt);
    const Tensor y = conv2d(x.to(dt), w.to(dt), b.to(dt), {1}, {1});
    REQUIRE(y.dtype() == dt);
    require_close(y, ref, dt == kFloat16 ? 1e-2 : 5e-2, dt == kFloat16 ? 2e-2 : 1e-1);
  }
  // and gradients come back in the input dtype
  Tensor xh = x.to(kFloat16).requires_grad_();
  sum(conv2d(xh, w.to(kFloat16))).backward();
  REQUIRE(xh.grad().dtype() == kFloat16);
}

TEST_CASE("conv2d errors name the op and the shapes", "[nn][conv][errors]") {
  const Tensor x = zeros({2, 4, 5, 5}), w = zeros({6, 2, 3, 3});
  REQUIRE_THROWS_WITH(conv2d(zeros({4, 5}), w), Catch::Contains("conv2d") && Catch::Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(conv2d(x, zeros({6, 4, 3})), Catch::Contains("conv2d") && Catch::Contains("4-d weight"));
  REQUIRE_THROWS_WITH(conv2d(x, w), Catch::Contains("conv2d") && Catch::Contains("groups=1 expects 2 channels") &&
                                        Catch::Contains("[2, 4, 5, 5]"));
  REQUIRE_NOTHROW(conv2d(x, w, Tensor(), {1}, {0}, {1}, 2));
  REQUIRE_THROWS_WITH(conv2d(x, zeros({5, 2, 3, 3}), Tensor(), {1}, {0}, {1}, 2),
                      Catch::Contains("conv2d") && Catch::Contains("divisible by groups"));
  REQUIRE_THROWS_WITH(conv2d(x, zeros({6, 1, 3, 3}), Tensor(), {1}, {0}, {1}, 3),
                      Catch::Contains("conv2d") && Catch::Contains("groups=3 expects 3 channels"));
  REQUIRE_THROWS_WITH(conv2d(x, zeros({6, 4, 7, 3})),
                      Catch::Contains("conv2d") && Catch::Contains("padded input size per channel (5 x 5)") &&
                          Catch::Contains("kernel size (7 x 3)"));
  REQUIRE_THROWS_WITH(conv2d(x, zeros({6, 4, 3, 3}), Tensor(), {1}, {0}, {3}),
                      Catch::Contains("conv2d") && Catch::Contains("(7 x 7)"));
  REQUIRE_NOTHROW(conv2d(x, zeros({6, 4, 7, 3}), Tensor(), {1}, {1}));
  REQUIRE_THROWS_WITH(conv2d(x, zeros({6, 4, 3, 3}), zeros({5})), Catch::Contains("conv2d") && Catch::Contains("bias of shape [5]"));
  REQUIRE_THROWS_WITH(conv2d(x, zeros({6, 4, 3, 3}, kFloat64)),
                      Catch::Contains("conv2d") && Catch::Contains("float32") && Catch::Contains("float64"));
  REQUIRE_THROWS_WITH(conv2d(zeros({2, 4, 5, 5}, kInt64), zeros({6, 4, 3, 3}, kInt64)),
                      Catch::Contains("conv2d") && Catch::Contains("floating-point") && Catch::Contains("int64"));
  REQUIRE_THROWS_WITH(conv2d(x, zeros({6, 4, 3, 3}), Tensor(), {0, 1}), Catch::Contains("conv2d: stride must be positive"));
  REQUIRE_THROWS_WITH(conv2d(x, zeros({6, 4, 3, 3}), Tensor(), {1}, {-1}), Catch::Contains("conv2d: padding"));
  REQUIRE_THROWS_WITH(conv2d(x, zeros({6, 4, 3, 3}), Tensor(), {1, 1, 1}), Catch::Contains("conv2d: stride must have 1 or 2"));
  REQUIRE_THROWS_WITH(conv2d(x, zeros({6, 4, 3, 3}), Tensor(), {1}, {0}, {0}), Catch::Contains("conv2d: dilation"));
  REQUIRE_THROWS_WITH(conv2d(x, zeros({6, 4, 3, 3}), Tensor(), {1}, {0}, {1}, 0), Catch::Contains("conv2d: groups"));
}
