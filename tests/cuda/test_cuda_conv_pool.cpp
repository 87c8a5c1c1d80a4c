// CUDA conv2d (cuDNN and the im2col + cuBLAS path, forced with TESSERA_CUDNN=0) and 2-d pooling
// (average pooling likewise on cuDNN and on our kernels) against the CPU backend on the same
// inputs: every float dtype, groups / stride / padding / dilation, odd and empty sizes, strided
// inputs, more images than one im2col block holds, ties and NaNs in max pooling, and every
// gradient through autograd. Max pooling must match the CPU bit for bit.
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tessera/tessera.h>

#include "cuda/cuda_test_util.h"

using namespace ts;
using namespace ts::cuda_test;

namespace {

// This file's tolerance: float32 allows for cuDNN's FFT and Winograd algorithms, whose rounding
// differs from a direct sum.
double conv_pool_tolerance(DType dt) { return dt == DType::Float32 ? 1e-4 : tolerance(dt); }

// Sets TESSERA_CUDNN for a scope: "0" forces conv2d's im2col path and our average-pooling
// kernels, unset lets them use cuDNN.
ScopedEnv cudnn_setting(bool use_cudnn) { return ScopedEnv("TESSERA_CUDNN", use_cudnn ? nullptr : "0"); }

struct ConvCase {
  const char* name;
  Shape x, w;
  bool bias;
  std::vector<int64_t> stride, pad, dilation;
  int64_t groups;
  bool transposed_input = false;  // x is a (H, W)-transposed view
};

// Forward and the three gradients on CUDA (cuDNN and im2col paths) against the CPU backend.
void check_conv(const ConvCase& c, DType dt) {
  INFO(c.name << ", " << dtype_name(dt));
  Shape x_base = c.x;
  if (c.transposed_input) std::swap(x_base[2], x_base[3]);
  const Pair x = random_leaf_pair(x_base, dt), w = random_leaf_pair(c.w, dt);
  const Pair b = c.bias ? random_leaf_pair({c.w[0]}, dt) : Pair{};
  const auto input = [&](const Tensor& t) { return c.transposed_input ? t.transpose(2, 3) : t; };
  const Tensor out_cpu = conv2d(input(x.cpu), w.cpu, b.cpu, c.stride, c.pad, c.dilation, c.groups);
  const Tensor g_cpu = randn(out_cpu.shape(), kFloat64).to(dt);
  std::vector<Tensor> wrt_cpu{x.cpu, w.cpu}, wrt_cuda{x.cuda, w.cuda};
  if (c.bias) {
    wrt_cpu.push_back(b.cpu);
    wrt_cuda.push_back(b.cuda);
  }
  const auto grads_cpu = autograd::grad({out_cpu}, wrt_cpu, {g_cpu});
  for (bool use_cudnn : {true, false}) {
    INFO((use_cudnn ? "cuDNN (when built with it)" : "im2col + cuBLAS"));
    const ScopedEnv setting = cudnn_setting(use_cudnn);
    const Tensor out_cuda = conv2d(input(x.cuda), w.cuda, b.cuda, c.stride, c.pad, c.dilation, c.groups);
    require_close(out_cuda, out_cpu, conv_pool_tolerance(dt));
    const auto grads_cuda = autograd::grad({out_cuda}, wrt_cuda, {g_cpu.to(kCuda)});
    for (size_t i = 0; i < grads_cpu.size(); ++i) {
      INFO("gradient of " << (i == 0 ? "x" : i == 1 ? "weight" : "bias"));
      require_close(grads_cuda[i], grads_cpu[i], conv_pool_tolerance(dt));
    }
  }
}

// The pooled input: the leaf itself, or its (H, W)-transposed view.
Tensor pool_input(const Tensor& leaf, bool transposed) { return transposed ? leaf.transpose(2, 3) : leaf; }

// max_pool2d's values, indices and gradient for one input (its values decide ties and NaNs),
// all exactly the CPU's in every dtype: the values are elements of the input, and the CUDA
// backward adds each input's terms in the CPU's order (row-major over the outputs, in float32
// for 16-bit types, rounded once).
void check_max_pool(const Tensor& values, std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> p,
                    std::vector<int64_t> d, bool ceil_mode, bool transposed = false) {
  const Pair x = leaf_pair(values);
  const auto [out_cpu, idx_cpu] = max_pool2d_with_indices(pool_input(x.cpu, transposed), k, s, p, d, ceil_mode);
  const auto [out_cuda, idx_cuda] = max_pool2d_with_indices(pool_input(x.cuda, transposed), k, s, p, d, ceil_mode);
  require_close(out_cuda, out_cpu, 0);
  REQUIRE(idx_cuda.dtype() == kInt64);
  CHECK(equal(idx_cuda.to(Device()), idx_cpu));  // first max (or last NaN) wins on both
  const Tensor g = randn(out_cpu.shape(), kFloat64).to(values.dtype());
  require_close(autograd::grad({out_cuda}, {x.cuda}, {g.to(kCuda)})[0], autograd::grad({out_cpu}, {x.cpu}, {g})[0],
                0);
}

// Values from {-2, ..., 2}: many ties within every window.
Tensor small_integers(const Shape& shape) {
  std::vector<double> v(static_cast<size_t>(numel_of(shape)));
  uint32_t state = 12345;
  for (double& e : v) {
    state = state * 1664525u + 1013904223u;
    e = static_cast<double>((state >> 16) % 5) - 2.0;
  }
  return tensor(v, shape, kFloat64);
}

template <typename Fn> void check_unary_pool(const Tensor& values, Fn&& pool, double tol, bool transposed = false) {
  const Pair x = leaf_pair(values);
  const Tensor out_cpu = pool(pool_input(x.cpu, transposed)), out_cuda = pool(pool_input(x.cuda, transposed));
  require_close(out_cuda, out_cpu, tol);
  const Tensor g = randn(out_cpu.shape(), kFloat64).to(values.dtype());
  require_close(autograd::grad({out_cuda}, {x.cuda}, {g.to(kCuda)})[0], autograd::grad({out_cpu}, {x.cpu}, {g})[0],
                tol);
}

struct AvgCase {
  Shape x;
  std::vector<int64_t> k, s, p;
  bool ceil_mode, count_include_pad;
};

// avg_pool2d and its gradient on both CUDA paths (cuDNN where its windows are ours, and our
// kernels) against the CPU backend, then the paths against each other.
void check_avg_pool(const Tensor& values, const AvgCase& c, double tol, bool transposed = false) {
  const auto pool = [&](const Tensor& t) {
    return avg_pool2d(pool_input(t, transposed), c.k, c.s, c.p, c.ceil_mode, c.count_include_pad);
  };
  const Pair x = leaf_pair(values);
  const Tensor out_cpu = pool(x.cpu);
  const Tensor g = randn(out_cpu.shape(), kFloat64).to(values.dtype());
  const Tensor gx_cpu = autograd::grad({out_cpu}, {x.cpu}, {g})[0];
  std::vector<Tensor> outs, grads;
  for (bool use_cudnn : {true, false}) {
    INFO((use_cudnn ? "cuDNN where it applies" : "our kernels"));
    const ScopedEnv setting = cudnn_setting(use_cudnn);
    outs.push_back(pool(x.cuda));
    require_close(outs.back(), out_cpu, tol);
    grads.push_back(autograd::grad({outs.back()}, {x.cuda}, {g.to(kCuda)})[0]);
    require_close(grads.back(), gx_cpu, tol);
  }
  INFO("cuDNN path against our kernels");
  require_close(outs[0], outs[1], tol);
  require_close(grads[0], grads[1], tol);
}

}  // namespace

TEST_CASE("cuda conv2d: forward and gradients equal the CPU backend on both paths", "[cuda]") {
  const ConvCase cases[] = {
      {"3x3 pad 1 with bias", {2, 3, 7, 6}, {4, 3, 3, 3}, true, {1, 1}, {1, 1}, {1, 1}, 1},
      {"groups 2, stride 2", {2, 4, 9, 8}, {6, 2, 3, 3}, true, {2, 2}, {1, 1}, {1, 1}, 2},
      {"dilation 2", {1, 3, 11, 13}, {2, 3, 3, 3}, false, {1, 1}, {2, 2}, {2, 2}, 1},
      {"depthwise", {2, 8, 10, 10}, {8, 1, 3, 3}, true, {1, 1}, {1, 1}, {1, 1}, 8},
      {"depthwise multiplier 2, stride 2", {3, 4, 9, 9}, {8, 1, 3, 3}, false, {2, 2}, {1, 1}, {1, 1}, 4},
      {"pointwise, one image (no im2col)", {1, 16, 7, 9}, {8, 16, 1, 1}, true, {1, 1}, {0, 0}, {1, 1}, 1},
      {"pointwise, three images", {3, 16, 7, 9}, {8, 16, 1, 1}, true, {1, 1}, {0, 0}, {1, 1}, 1},
      {"pointwise stride 2", {2, 6, 9, 8}, {5, 6, 1, 1}, false, {2, 2}, {0, 0}, {1, 1}, 1},
      {"odd image 31x33, 3x1 kernel, stride (2, 1)", {2, 3, 31, 33}, {5, 3, 3, 1}, true, {2, 1}, {1, 0}, {1, 1}, 1},
      {"kernel larger than the image", {1, 2, 3, 3}, {3, 2, 5, 5}, true, {1, 1}, {1, 1}, {1, 1}, 1},
      {"single channel 1x1 output", {1, 1, 33, 31}, {1, 1, 33, 31}, true, {1, 1}, {0, 0}, {1, 1}, 1},
      {"stride larger than the kernel", {2, 3, 13, 11}, {4, 3, 2, 2}, true, {3, 3}, {0, 0}, {1, 1}, 1},
      {"transposed input view", {2, 3, 8, 5}, {4, 3, 3, 3}, true, {1, 1}, {1, 1}, {1, 1}, 1, true},
      {"empty batch", {0, 3, 5, 5}, {4, 3, 3, 3}, true, {1, 1}, {1, 1}, {1, 1}, 1},
  };
  for (DType dt : kFloatTypes)
    for (const ConvCase& c : cases) check_conv(c, dt);
}

TEST_CASE("cuda conv2d: more images than one im2col block holds", "[cuda]") {
  // About 16 MB of float32 scratch per image: the 256 MiB block budget takes 16 images, so the
  // im2col path runs three blocks (the last one partial) and accumulates the weight gradient.
  const ConvCase c{"40 images of 64x56x56", {40, 64, 56, 56}, {64, 64, 3, 3}, true, {1, 1}, {1, 1}, {1, 1}, 1};
  for (DType dt : {kFloat32, kBFloat16}) check_conv(c, dt);
}

TEST_CASE("cuda conv2d: float32 uses TF32 only when allowed", "[cuda]") {
  const Tensor x = randn({4, 32, 16, 16}, kFloat64), w = randn({32, 32, 3, 3}, kFloat64);
  const Tensor ref = conv2d(x, w, Tensor(), {1, 1}, {1, 1});
  const Tensor xf = x.to(kFloat32).to(kCuda), wf = w.to(kFloat32).to(kCuda);
  for (bool use_cudnn : {true, false}) {
    INFO((use_cudnn ? "cuDNN" : "im2col"));
    const ScopedEnv setting = cudnn_setting(use_cudnn);
    REQUIRE_FALSE(cuda::allow_tf32());
    CHECK(max_rel_err(conv2d(xf, wf, Tensor(), {1, 1}, {1, 1}), ref) < 1e-5);
    const TF32Guard tf32(true);
    CHECK(max_rel_err(conv2d(xf, wf, Tensor(), {1, 1}, {1, 1}), ref) < 1e-2);
  }
}

TEST_CASE("cuda max_pool2d: values, indices and gradients equal the CPU backend", "[cuda]") {
  struct MaxCase {
    Shape x;
    std::vector<int64_t> k, s, p, d;
    bool ceil_mode;
  };
  const MaxCase cases[] = {
      {{2, 3, 7, 6}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false},   // the usual ResNet stem shape
      {{2, 3, 8, 8}, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false},   // disjoint windows
      {{1, 2, 9, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, false},   // heavily overlapping windows
      {{2, 2, 11, 10}, {3, 2}, {2, 1}, {1, 1}, {2, 2}, true},  // dilation + ceil_mode
      {{1, 3, 10, 9}, {5, 3}, {1, 2}, {2, 1}, {1, 2}, true},   // up to 5 windows per input row, dilated columns
      {{2, 1, 4, 1}, {1, 2}, {1, 3}, {0, 1}, {2, 2}, false},   // windows without an input element: no gradient
      {{1, 1, 33, 31}, {4, 4}, {3, 3}, {2, 2}, {1, 1}, true},  // odd sizes, ceil_mode's last window
      {{70000, 1, 4, 4}, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false},  // more planes than a grid dimension
  };
  for (DType dt : kFloatTypes) {
    for (const MaxCase& c : cases) {
      INFO(dtype_name(dt) << ", input " << shape_str(c.x));
      check_max_pool(randn(c.x, kFloat64).to(dt), c.k, c.s, c.p, c.d, c.ceil_mode);
      INFO("ties");
      check_max_pool(small_integers(c.x).to(dt), c.k, c.s, c.p, c.d, c.ceil_mode);
    }
    INFO("NaN propagates and its index is reported");
    Tensor v = randn({2, 2, 6, 6}, kFloat64);
    double* p = v.data_ptr<double>();
    p[0] = p[7] = p[40] = p[41] = std::nan("");
    check_max_pool(v.to(dt), {2, 2}, {2, 2}, {0, 0}, {1, 1}, false);
    check_max_pool(v.to(dt), {3, 3}, {1, 1}, {1, 1}, {1, 1}, false);
  }
  INFO("strided input");
  check_max_pool(randn({2, 3, 9, 8}, kFloat64), {3, 3}, {2, 2}, {1, 1}, {1, 1}, false, true);
}

TEST_CASE("cuda avg_pool2d: forward and gradient equal the CPU backend on both paths", "[cuda]") {
  const AvgCase cases[] = {
      {{2, 3, 6, 6}, {2, 2}, {2, 2}, {1, 1}, false, true},
      {{2, 3, 7, 8}, {3, 3}, {2, 2}, {1, 1}, true, false},   // ceil_mode adds a column: our kernels
      {{2, 2, 9, 9}, {3, 3}, {2, 2}, {1, 1}, true, false},   // ceil_mode adds nothing: cuDNN
      {{2, 2, 9, 9}, {3, 3}, {2, 2}, {1, 1}, true, true},
      {{1, 2, 5, 9}, {3, 3}, {1, 1}, {1, 1}, false, true},   // overlapping windows
      {{1, 2, 5, 9}, {3, 3}, {1, 1}, {1, 1}, false, false},
      {{1, 1, 11, 7}, {5, 3}, {3, 2}, {2, 1}, true, true},    // a window partly past the padding
      {{1, 1, 11, 7}, {5, 3}, {3, 2}, {2, 1}, true, false},
      {{2, 3, 33, 31}, {4, 4}, {4, 4}, {0, 0}, false, true},  // odd sizes, remainder rows dropped
      {{70000, 1, 4, 4}, {2, 2}, {2, 2}, {1, 1}, false, false},
  };
  for (DType dt : kFloatTypes) {
    for (const AvgCase& c : cases) {
      INFO(dtype_name(dt) << ", input " << shape_str(c.x) << ", kernel (" << c.k[0] << ", " << c.k[1]
                          << "), ceil_mode " << c.ceil_mode << ", count_include_pad " << c.count_include_pad);
      check_avg_pool(randn(c.x, kFloat64).to(dt), c, conv_pool_tolerance(dt));
    }
  }
  INFO("strided input");
  check_avg_pool(randn({2, 3, 9, 8}, kFloat64), {{2, 3, 8, 9}, {3, 3}, {2, 2}, {1, 1}, false, true},
                 conv_pool_tolerance(kFloat64), true);
}

TEST_CASE("cuda adaptive_avg_pool2d: forward and gradient equal the CPU backend", "[cuda]") {
  struct AdaptiveCase {
    Shape x;
    std::vector<int64_t> out;
  };
  const AdaptiveCase cases[] = {
      {{2, 3, 5, 7}, {3, 2}},     // uneven, overlapping windows
      {{2, 4, 7, 7}, {1, 1}},     // global average pooling
      {{1, 2, 5, 3}, {7, 5}},     // more outputs than inputs
      {{1, 1, 16, 16}, {4, 4}},   // exact division
      {{3, 2, 33, 31}, {5, 7}},
      {{2, 3, 5, 7}, {0, 2}},     // empty output: zero gradient
      {{70000, 1, 3, 3}, {2, 2}},
  };
  for (DType dt : kFloatTypes) {
    for (const AdaptiveCase& c : cases) {
      INFO(dtype_name(dt) << ", output (" << c.out[0] << ", " << c.out[1] << ")");
      check_unary_pool(
          randn(c.x, kFloat64).to(dt), [&](const Tensor& t) { return adaptive_avg_pool2d(t, c.out); },
          conv_pool_tolerance(dt));
    }
  }
}
