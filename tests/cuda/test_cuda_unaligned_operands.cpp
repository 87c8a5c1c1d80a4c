// Unusual operand layouts for the cuBLAS / cuDNN host code (src/backend/cuda/cuda_matmul.cpp,
// cuda_cudnn_*.cpp), against the CPU backend:
//  - cuDNN conv2d, average pooling and batch norm given contiguous views whose data sits at an
//    odd element offset (a batch slice, a parameter inside a flat buffer): cuDNN's kernels assume
//    aligned pointers, so those operands must fall back to our kernels rather than fault;
//  - matmul operands with a dimension of size 1 and unusual strides, the corner cases of the
//    leading-dimension rules in as_operand (cuBLAS rejects ld < rows).
#include <catch2/catch.hpp>

#include <tessera/tessera.h>

#include "cuda/cuda_test_util.h"

using namespace ts;
using namespace ts::cuda_test;

namespace {

// float32 allows for cuDNN's FFT and Winograd algorithms (as test_cuda_conv_pool.cpp does).
double layout_tolerance(DType dt) { return dt == kFloat32 ? 1e-4 : tolerance(dt); }

// The leaf `base` and the view the op gets, on both devices; gradients are taken for the leaves.
struct ViewPair {
  Pair leaf;
  Tensor cpu, cuda;
};
ViewPair view_pair(const Layout& layout, DType dt) {
  ViewPair v{random_leaf_pair(layout.base, dt), Tensor(), Tensor()};
  v.cpu = layout.view(v.leaf.cpu);
  v.cuda = layout.view(v.leaf.cuda);
  return v;
}

// Forward on both devices, then the gradients of every leaf, CUDA against CPU.
template <typename Fn>
void check_views(DType dt, const std::vector<ViewPair*>& inputs, Fn&& op) {
  std::vector<Tensor> cpu_args, cuda_args, cpu_leaves, cuda_leaves;
  for (ViewPair* v : inputs) {
    cpu_args.push_back(v->cpu);
    cuda_args.push_back(v->cuda);
    cpu_leaves.push_back(v->leaf.cpu);
    cuda_leaves.push_back(v->leaf.cuda);
  }
  const Tensor out_cpu = op(cpu_args), out_cuda = op(cuda_args);
  require_close(out_cuda, out_cpu, layout_tolerance(dt));
  const Tensor g = randn(out_cpu.shape(), kFloat64).to(dt);
  const auto grads_cpu = autograd::grad({out_cpu}, cpu_leaves, {g});
  const auto grads_cuda = autograd::grad({out_cuda}, cuda_leaves, {g.to(kCuda)});
  for (size_t i = 0; i < grads_cpu.size(); ++i) {
    INFO("gradient of input " << i);
    require_close(grads_cuda[i], grads_cpu[i], layout_tolerance(dt));
  }
}

// Images [1, n + 1) of a batch of n + 1: contiguous, at an offset of one image (an odd number
// of elements for the shapes below, so not 16-byte aligned in any float dtype).
Layout batch_slice_layout(const Shape& s) {
  Shape base = s;
  base[0] += 1;
  const int64_t n = s[0];
  return {"batch slice", base, [n](const Tensor& t) { return t.slice(0, 1, n + 1); }};
}

}  // namespace

TEST_CASE("cuda cuDNN ops on contiguous views at odd element offsets", "[cuda]") {
  // TESSERA_CUDNN unset: cuDNN wherever it applies (these must decline it, not fault).
  const ScopedEnv cudnn("TESSERA_CUDNN", nullptr);
  for (DType dt : {kFloat32, kFloat16, kBFloat16}) {
    INFO(dtype_name(dt));
    {
      INFO("conv2d: batch-sliced input, weight and bias one element into flat buffers");
      ViewPair x = view_pair(batch_slice_layout({2, 3, 5, 7}), dt);
      ViewPair w = view_pair(misaligned_layout({4, 3, 3, 3}), dt);
      ViewPair b = view_pair(misaligned_layout({4}), dt);
      check_views(dt, {&x, &w, &b}, [](const std::vector<Tensor>& a) {
        return conv2d(a[0], a[1], a[2], {1, 1}, {1, 1}, {1, 1}, 1);
      });
      check_views(dt, {&x, &w}, [](const std::vector<Tensor>& a) {
        return conv2d(a[0], a[1], Tensor(), {2, 1}, {0, 1}, {1, 1}, 1);
      });
    }
    {
      INFO("avg_pool2d: batch-sliced input");
      ViewPair x = view_pair(batch_slice_layout({2, 3, 5, 7}), dt);
      for (bool include_pad : {true, false})
        check_views(dt, {&x}, [include_pad](const std::vector<Tensor>& a) {
          return avg_pool2d(a[0], {3, 3}, {2, 2}, {1, 1}, false, include_pad);
        });
    }
    {
      INFO("batch_norm (training): batch-sliced input, weight / bias / running stats misaligned");
      ViewPair x = view_pair(batch_slice_layout({3, 5, 3, 3}), dt);
      ViewPair w = view_pair(misaligned_layout({5}), dt);
      ViewPair b = view_pair(misaligned_layout({5}), dt);
      const DType stats = dt == kFloat64 ? kFloat64 : kFloat32;
      const Tensor rm_base = randn({6}, kFloat64).to(stats), rv_base = (rand({6}, kFloat64) + 0.5).to(stats);
      Tensor rm_cpu = rm_base.clone(), rv_cpu = rv_base.clone();
      Tensor rm_cuda = rm_base.to(kCuda), rv_cuda = rv_base.to(kCuda);
      check_views(dt, {&x, &w, &b}, [&](const std::vector<Tensor>& a) {
        const bool cuda = a[0].device().is_cuda();
        Tensor& rm = cuda ? rm_cuda : rm_cpu;
        Tensor& rv = cuda ? rv_cuda : rv_cpu;
        return batch_norm(a[0], rm.slice(0, 1, 6), rv.slice(0, 1, 6), a[1], a[2], true, 0.1, 1e-5);
      });
      INFO("running stats");
      require_close(rm_cuda, rm_cpu, layout_tolerance(stats));
      require_close(rv_cuda, rv_cpu, layout_tolerance(stats));
    }
  }
}

TEST_CASE("cuda matmul operands with a size-1 dimension and unusual strides", "[cuda]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    {
      INFO("a (B, 1, K) with column stride 2 (column-major in cuBLAS's terms, ld 2)");
      ViewPair a = view_pair({"", {3, 1, 2 * 37}, [](const Tensor& t) { return t.slice(2, 0, 74, 2); }}, dt);
      ViewPair b = view_pair(contiguous_layout({3, 37, 19}), dt);
      check_views(dt, {&a, &b}, [](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); });
    }
    {
      INFO("b (B, K, 1) with row stride 3 and a (B, M, 1) transposed from (B, 1, M)");
      ViewPair a = view_pair({"", {2, 1, 23}, [](const Tensor& t) { return t.transpose(1, 2); }}, dt);
      ViewPair b = view_pair({"", {2, 1, 3}, [](const Tensor& t) { return t.slice(2, 1, 2); }}, dt);
      check_views(dt, {&a, &b}, [](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); });
      ViewPair k = view_pair({"", {2, 41, 3}, [](const Tensor& t) { return t.slice(2, 1, 2); }}, dt);
      ViewPair r = view_pair(contiguous_layout({2, 5, 41}), dt);
      check_views(dt, {&r, &k}, [](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); });
    }
    {
      INFO("a row vector broadcast over the batch (batch stride 0) times a transposed b");
      ViewPair a = view_pair({"", {1, 1, 29}, [](const Tensor& t) { return t.expand({4, 1, 29}); }}, dt);
      ViewPair b = view_pair({"", {4, 13, 29}, [](const Tensor& t) { return t.transpose(1, 2); }}, dt);
      check_views(dt, {&a, &b}, [](const std::vector<Tensor>& v) { return matmul(v[0], v[1]); });
    }
  }
}
