// CUDA softmax, layer/batch/rms norm, indexing and optimizer kernels (kernels/softmax.cu, norm.cu,
// rms_norm.cu, index.cu, optim.cu) against the CPU backend on the same inputs: every supported dtype, both
// parallel schemes of each kernel (warp vs block rows, row vs column reductions, plane vs
// column batch-norm sums), odd and empty sizes, more than 65535 rows, strided and misaligned
// operands, and gradients through autograd. Optimizer updates must match bit for bit.
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tessera/tessera.h>

#include "cuda/cuda_test_util.h"

using namespace ts;
using namespace ts::cuda_test;

namespace {

void require_equal(const Tensor& cuda_result, const Tensor& cpu_result) { require_close(cuda_result, cpu_result, 0); }

// Random values of any dtype on the CPU: N(0, 1) * scale for floats, small integers (both
// signs where the type has them) otherwise.
Tensor random_of(const Shape& shape, DType dt, double scale = 1.0) {
  NoGradGuard no_grad;
  switch (dt) {
    case DType::Bool: return randint(0, 2, shape).to(dt);
    case DType::UInt8: return randint(0, 200, shape).to(dt);
    case DType::Int32:
    case DType::Int64: return randint(-50, 50, shape).to(dt);
    default: return (randn(shape, kFloat64) * scale).to(dt);
  }
}

Tensor grad_of(const Tensor& out, const Tensor& input, const Tensor& g) {
  return autograd::grad({out}, {input}, {g}, true)[0];
}

// The gradients of y (CPU and CUDA) with respect to each defined leaf pair, CUDA against the CPU.
void require_close_grads(const Pair& y, const Tensor& g, const std::vector<Pair>& leaves, double tol) {
  std::vector<Tensor> in_cpu, in_cuda;
  for (const Pair& l : leaves) {
    if (!l.cpu.defined()) continue;
    in_cpu.push_back(l.cpu);
    in_cuda.push_back(l.cuda);
  }
  const auto gc = autograd::grad({y.cpu}, in_cpu, {g});
  const auto gg = autograd::grad({y.cuda}, in_cuda, {g.to(kCuda)});
  for (size_t i = 0; i < gc.size(); ++i) {
    INFO("gradient " << i);
    require_close(gg[i], gc[i], tol);
  }
}

std::string describe(DType dt, const Shape& shape, int64_t dim = 0) {
  return fmt::format("{} {} dim {}", dtype_name(dt), shape_str(shape), dim);
}

// ---- softmax --------------------------------------------------------------------------------------

struct DimCase {
  Shape shape;
  int64_t dim;
};

TEST_CASE("cuda softmax / log_softmax forward and backward match the CPU", "[cuda]") {
  const std::vector<DimCase> cases = {
      {{1, 1}, 1},        {{31, 33}, 1},     {{33, 31}, 0},    {{5, 1000}, 1},    // warp rows
      {{4, 1025}, 1},     {{3, 5000}, -1},                                         // block rows
      {{70000, 3}, 1},                                                              // > 65535 rows
      {{2, 3, 70}, 0},    {{4, 1000, 3}, 1}, {{2, 33, 40}, 1}, {{3, 2, 1}, 1},     // columns
      {{7}, 0},           {{}, 0},           {{0, 5}, 1},      {{3, 0}, 1},    {{3, 0, 2}, 0}};
  for (DType dt : kFloatTypes)
    for (const auto& c : cases)
      for (bool log : {false, true}) {
        INFO(describe(dt, c.shape, c.dim) << (log ? " log_softmax" : " softmax"));
        auto [x_cpu, x_cuda] = leaf_pair(random_of(c.shape, dt, 3.0));
        auto fn = [&](const Tensor& x) { return log ? log_softmax(x, c.dim) : softmax(x, c.dim); };
        const Tensor y_cpu = fn(x_cpu), y_cuda = fn(x_cuda);
        require_close(y_cuda, y_cpu, tolerance(dt));
        const Tensor g = random_of(c.shape, dt);
        require_close(grad_of(y_cuda, x_cuda, g.to(kCuda)), grad_of(y_cpu, x_cpu, g), tolerance(dt));
      }
}

TEST_CASE("cuda softmax of a non-contiguous input matches the CPU", "[cuda]") {
  for (DType dt : kFloatTypes)
    for (int64_t dim : {0, 1}) {
      INFO(describe(dt, {40, 1500}, dim));
      const Tensor base = random_of({1500, 40}, dt, 2.0);
      const Tensor y_cpu = softmax(base.t(), dim);
      const Tensor y_cuda = softmax(base.to(kCuda).t(), dim);
      require_close(y_cuda, y_cpu, tolerance(dt));
    }
}

TEST_CASE("cuda softmax propagates -inf, +inf and NaN like the CPU", "[cuda]") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  // Rows: a leading -inf, all -inf, NaN, +inf, two -inf then a value, ordinary. The outputs' RMS
  // (require_close's floor) is that of their finite elements.
  const std::vector<double> v = {-inf, 1, 2, -inf, -inf, -inf, nan, 1, 2, inf, 1, 2, -inf, -inf, 3, 0.5, -1, 2};
  for (DType dt : kFloatTypes)
    for (bool log : {false, true}) {
      INFO(dtype_name(dt) << (log ? " log_softmax" : " softmax"));
      const Tensor rows = tensor(v, {6, 3}).to(dt);
      for (const Tensor& x : {rows, rows.t().contiguous()}) {  // row kernel, then column kernel
        const int64_t dim = x.shape()[0] == 6 ? 1 : 0;
        const Tensor y_cpu = log ? log_softmax(x, dim) : softmax(x, dim);
        const Tensor y_cuda = log ? log_softmax(x.to(kCuda), dim) : softmax(x.to(kCuda), dim);
        require_close(y_cuda, y_cpu, tolerance(dt), RmsOver::FiniteElements);
      }
      // Long rows take the block kernel: -inf first, then a NaN late in the row.
      Tensor long_rows = random_of({2, 3000}, kFloat64);
      {
        NoGradGuard no_grad;
        long_rows = cat({full({2, 1}, -inf, kFloat64), long_rows}, 1);
        long_rows.select(0, 1).select(0, 2500).fill_(nan);
      }
      const Tensor x = long_rows.to(dt);
      const Tensor y_cpu = log ? log_softmax(x, 1) : softmax(x, 1);
      const Tensor y_cuda = log ? log_softmax(x.to(kCuda), 1) : softmax(x.to(kCuda), 1);
      require_close(y_cuda, y_cpu, tolerance(dt), RmsOver::FiniteElements);
    }
}

// ---- layer norm -----------------------------------------------------------------------------------

TEST_CASE("cuda layer_norm forward and backward match the CPU", "[cuda]") {
  struct Case {
    Shape shape, normalized;
    bool weight, bias;
  };
  const std::vector<Case> cases = {
      {{1, 1}, {1}, true, true},           {{31, 33}, {33}, true, true},       {{4, 5, 6}, {5, 6}, false, false},
      {{70000, 8}, {8}, true, false},      {{130, 64}, {64}, false, true},     {{4096, 48}, {48}, true, true},
      {{5, 1024}, {1024}, true, true},     {{5, 1025}, {1025}, true, true},    {{3, 2000}, {2000}, true, true},
      {{2, 3, 1500}, {3, 1500}, true, false}, {{0, 8}, {8}, true, true},      {{6}, {6}, true, true}};
  for (DType dt : kFloatTypes)
    for (const auto& c : cases) {
      INFO(describe(dt, c.shape) << " normalized " << shape_str(c.normalized) << " weight " << c.weight << " bias "
                                 << c.bias);
      // An offset far above the spread checks the mean's accuracy (float64 gets a larger one).
      const double offset = dt == kFloat64 ? 1e4 : 100.0;
      const Pair x = leaf_pair((random_of(c.shape, kFloat64, 2.0) + offset).to(dt));
      const Pair w = c.weight ? leaf_pair(random_of(c.normalized, dt)) : Pair{};
      const Pair b = c.bias ? leaf_pair(random_of(c.normalized, dt)) : Pair{};
      const Pair y{layer_norm(x.cpu, c.normalized, w.cpu, b.cpu, 1e-5),
                   layer_norm(x.cuda, c.normalized, w.cuda, b.cuda, 1e-5)};
      require_close(y.cuda, y.cpu, tolerance(dt));
      require_close_grads(y, random_of(c.shape, dt), {x, w, b}, tolerance(dt));
    }
}

TEST_CASE("cuda layer_norm weight gradient alone and input gradient alone", "[cuda]") {
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor x = random_of({300, 40}, dt);
    auto [w_cpu, w_cuda] = leaf_pair(random_of({40}, dt));
    const Tensor g = random_of({300, 40}, dt);
    // Only the weight requires grad: no grad_x, no grad_bias.
    const Tensor gw_cpu = grad_of(layer_norm(x, {40}, w_cpu, Tensor()), w_cpu, g);
    const Tensor gw_cuda = grad_of(layer_norm(x.to(kCuda), {40}, w_cuda, Tensor()), w_cuda, g.to(kCuda));
    require_close(gw_cuda, gw_cpu, tolerance(dt));
    // Only x requires grad: no parameter gradients.
    auto [x_cpu, x_cuda] = leaf_pair(x);
    const Tensor w = random_of({40}, dt);
    const Tensor gx_cpu = grad_of(layer_norm(x_cpu, {40}, w, Tensor()), x_cpu, g);
    const Tensor gx_cuda = grad_of(layer_norm(x_cuda, {40}, w.to(kCuda), Tensor()), x_cuda, g.to(kCuda));
    require_close(gx_cuda, gx_cpu, tolerance(dt));
  }
}

// ---- rms norm -------------------------------------------------------------------------------------

TEST_CASE("cuda rms_norm forward and backward match the CPU", "[cuda]") {
  struct Case {
    Shape shape, normalized;
    bool weight;
  };
  // Warp rows (<= 1024) and block rows (above), more than 65535 rows, odd and empty sizes.
  const std::vector<Case> cases = {
      {{1, 1}, {1}, true},         {{31, 33}, {33}, true},       {{4, 5, 6}, {5, 6}, false},
      {{70000, 8}, {8}, true},     {{130, 64}, {64}, false},     {{4096, 48}, {48}, true},
      {{5, 1024}, {1024}, true},   {{5, 1025}, {1025}, true},    {{3, 5000}, {5000}, true},
      {{2, 3, 1500}, {3, 1500}, false}, {{0, 8}, {8}, true},     {{6}, {6}, true}};
  for (DType dt : kFloatTypes)
    for (const auto& c : cases) {
      INFO(describe(dt, c.shape) << " normalized " << shape_str(c.normalized) << " weight " << c.weight);
      const Pair x = leaf_pair(random_of(c.shape, dt, 3.0));
      const Pair w = c.weight ? leaf_pair(random_of(c.normalized, dt)) : Pair{};
      const Pair y{rms_norm(x.cpu, c.normalized, w.cpu, 1e-5), rms_norm(x.cuda, c.normalized, w.cuda, 1e-5)};
      require_close(y.cuda, y.cpu, tolerance(dt));
      require_close_grads(y, random_of(c.shape, dt), {x, w}, tolerance(dt));
    }
}

TEST_CASE("cuda rms_norm weight gradient alone, input gradient alone, strided input, promotion", "[cuda]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor x = random_of({300, 40}, dt);
    const Tensor g = random_of({300, 40}, dt);
    // Only the weight requires grad: no grad_x.
    auto [w_cpu, w_cuda] = leaf_pair(random_of({40}, dt));
    const Tensor gw_cpu = grad_of(rms_norm(x, {40}, w_cpu), w_cpu, g);
    const Tensor gw_cuda = grad_of(rms_norm(x.to(kCuda), {40}, w_cuda), w_cuda, g.to(kCuda));
    require_close(gw_cuda, gw_cpu, tolerance(dt));
    // Only x requires grad: no grad_weight.
    auto [x_cpu, x_cuda] = leaf_pair(x);
    const Tensor w = random_of({40}, dt);
    const Tensor gx_cpu = grad_of(rms_norm(x_cpu, {40}, w), x_cpu, g);
    const Tensor gx_cuda = grad_of(rms_norm(x_cuda, {40}, w.to(kCuda)), x_cuda, g.to(kCuda));
    require_close(gx_cuda, gx_cpu, tolerance(dt));
    // A transposed (non-contiguous) input.
    const Pair xt = on_both(random_of({40, 300}, dt), [](const Tensor& t) { return t.transpose(0, 1); });
    require_close(rms_norm(xt.cuda, {40}, w.to(kCuda)), rms_norm(xt.cpu, {40}, w), tolerance(dt));
    // A float64 weight promotes the result (the weight is applied outside the kernel).
    const Pair w64 = leaf_pair(random_of({40}, kFloat64));
    const Pair yp{rms_norm(x, {40}, w64.cpu), rms_norm(x.to(kCuda), {40}, w64.cuda)};
    require_close(yp.cuda, yp.cpu, tolerance(dt));
    require_close_grads(yp, random_of({300, 40}, kFloat64), {w64}, tolerance(dt));
  }
}

// ---- batch norm -----------------------------------------------------------------------------------

// Batch norm's tolerance: float32 allows for cuDNN (training mode's default path), which sums in
// float32 where our kernels and the CPU sum in double.
double bn_tolerance(DType dt) { return dt == kFloat32 ? 1e-4 : tolerance(dt); }

TEST_CASE("cuda batch_norm training and eval match the CPU, running stats included", "[cuda]") {
  struct Case {
    Shape shape;
    bool weight, bias;
  };
  const std::vector<Case> cases = {
      {{64, 7}, true, true},        {{2, 5}, false, false},        {{70000, 3}, true, true},  // columns, S = 1
      {{2, 3, 4, 4}, true, false},  {{1, 2, 2}, false, true},      {{5, 3, 31}, true, true},  // columns, S > 1
      {{4, 3, 5, 7}, true, true},   {{3, 1, 33}, false, false},                               // planes
      {{2, 4, 100, 100}, true, true}, {{1, 2, 300, 300}, true, true}};                        // planes, splits
  for (DType dt : kFloatTypes)
    for (const auto& c : cases)
      for (bool training : {true, false}) {
        INFO(describe(dt, c.shape) << (training ? " training" : " eval") << " weight " << c.weight << " bias "
                                   << c.bias);
        const int64_t ch = c.shape[1];
        const Pair x = leaf_pair((random_of(c.shape, kFloat64, 2.0) + 5.0).to(dt));
        const Pair w = c.weight ? leaf_pair(random_of({ch}, dt)) : Pair{};
        const Pair b = c.bias ? leaf_pair(random_of({ch}, dt)) : Pair{};
        // Running stats in the input's dtype.
        const Tensor rm = random_of({ch}, dt), rv = (rand({ch}, kFloat64) + 0.5).to(dt);
        Tensor rm_cpu = rm.clone(), rv_cpu = rv.clone(), rm_cuda = rm.to(kCuda), rv_cuda = rv.to(kCuda);
        const Pair y{batch_norm(x.cpu, rm_cpu, rv_cpu, w.cpu, b.cpu, training, 0.1, 1e-5),
                     batch_norm(x.cuda, rm_cuda, rv_cuda, w.cuda, b.cuda, training, 0.1, 1e-5)};
        require_close(y.cuda, y.cpu, bn_tolerance(dt));
        require_close(rm_cuda, rm_cpu, bn_tolerance(dt));
        require_close(rv_cuda, rv_cpu, bn_tolerance(dt));
        require_close_grads(y, random_of(c.shape, dt), {x, w, b}, bn_tolerance(dt));
      }
}

TEST_CASE("cuda batch_norm updates strided float32 running stats of a 16-bit input", "[cuda]") {
  for (DType dt : {kFloat16, kBFloat16, kFloat64}) {
    INFO(dtype_name(dt));
    const Tensor x = (random_of({8, 3, 40}, kFloat64) * 3 + 1).to(dt);
    // Every other element of a longer buffer; the untouched ones must stay as they are.
    const Tensor rm = random_of({6}, kFloat32), rv = (rand({6}, kFloat64) + 0.5).to(kFloat32);
    Tensor rm_cpu = rm.clone(), rv_cpu = rv.clone(), rm_cuda = rm.to(kCuda), rv_cuda = rv.to(kCuda);
    for (int step = 0; step < 3; ++step) {
      const Tensor y_cpu =
          batch_norm(x, rm_cpu.slice(0, 0, std::nullopt, 2), rv_cpu.slice(0, 1, std::nullopt, 2), {}, {}, true, 0.3);
      const Tensor y_cuda = batch_norm(x.to(kCuda), rm_cuda.slice(0, 0, std::nullopt, 2),
                                       rv_cuda.slice(0, 1, std::nullopt, 2), {}, {}, true, 0.3);
      require_close(y_cuda, y_cpu, tolerance(dt));
    }
    require_close(rm_cuda, rm_cpu, 1e-6);
    require_close(rv_cuda, rv_cpu, 1e-6);
    // Eval with those running stats.
    const Tensor e_cpu = batch_norm(x, rm_cpu.slice(0, 0, std::nullopt, 2), rv_cpu.slice(0, 1, std::nullopt, 2));
    const Tensor e_cuda =
        batch_norm(x.to(kCuda), rm_cuda.slice(0, 0, std::nullopt, 2), rv_cuda.slice(0, 1, std::nullopt, 2));
    require_close(e_cuda, e_cpu, tolerance(dt));
  }
}

TEST_CASE("cuda batch_norm without running stats and with an empty batch in eval", "[cuda]") {
  for (DType dt : {kFloat32, kFloat64}) {
    auto [x_cpu, x_cuda] = leaf_pair(random_of({16, 4, 9}, dt));
    const Tensor y_cpu = batch_norm(x_cpu, Tensor(), Tensor(), Tensor(), Tensor(), true);
    const Tensor y_cuda = batch_norm(x_cuda, Tensor(), Tensor(), Tensor(), Tensor(), true);
    require_close(y_cuda, y_cpu, bn_tolerance(dt));
    const Tensor g = random_of({16, 4, 9}, dt);
    require_close(grad_of(y_cuda, x_cuda, g.to(kCuda)), grad_of(y_cpu, x_cpu, g), bn_tolerance(dt));
    const Tensor rm = random_of({4}, dt), rv = (rand({4}, kFloat64) + 0.5).to(dt);
    const Tensor empty_cpu = random_of({0, 4, 3}, dt);
    const Tensor e_cuda = batch_norm(empty_cpu.to(kCuda), rm.to(kCuda), rv.to(kCuda));
    REQUIRE(e_cuda.shape() == Shape{0, 4, 3});
  }
}

// ---- indexing -------------------------------------------------------------------------------------

TEST_CASE("cuda index_select matches the CPU for every dtype, dim and index layout", "[cuda]") {
  for (DType dt : kAllTypes) {
    const Tensor x = random_of({5, 7, 9}, dt);
    for (int64_t dim = 0; dim < 3; ++dim) {
      INFO(describe(dt, x.shape(), dim));
      const int64_t size = x.shape()[static_cast<size_t>(dim)];
      const Tensor idx = randint(0, size, {11});
      require_equal(index_select(x.to(kCuda), dim, idx.to(kCuda)), index_select(x, dim, idx));
      // A strided index (every other element of a longer one).
      const Tensor long_idx = randint(0, size, {22});
      require_equal(index_select(x.to(kCuda), dim, long_idx.to(kCuda).slice(0, 0, std::nullopt, 2)),
                    index_select(x, dim, long_idx.slice(0, 0, std::nullopt, 2)));
      // Empty index, 0-d index.
      require_equal(index_select(x.to(kCuda), dim, randint(0, size, {0}).to(kCuda)),
                    index_select(x, dim, randint(0, size, {0})));
      const Tensor one = scalar_tensor(int64_t{size - 1}, kInt64);
      require_equal(index_select(x.to(kCuda), dim, one.to(kCuda)), index_select(x, dim, one));
    }
  }
}

TEST_CASE("cuda embedding forward and backward match the CPU (repeated indices)", "[cuda]") {
  // 768 floats per row move as 16-byte vectors; 3 per row as single elements; > 65535 lookups.
  struct Case {
    int64_t vocab, dim, lookups;
  };
  for (const Case c : {Case{1000, 768, 70000}, Case{50, 3, 4097}, Case{7, 1, 33}, Case{3, 16, 1000}})
    for (DType dt : kFloatTypes) {
      INFO(dtype_name(dt) << " vocab " << c.vocab << " dim " << c.dim << " lookups " << c.lookups);
      auto [w_cpu, w_cuda] = leaf_pair(random_of({c.vocab, c.dim}, dt));
      const Tensor idx = randint(0, c.vocab, {c.lookups});
      const Tensor out_cpu = embedding(idx, w_cpu), out_cuda = embedding(idx.to(kCuda), w_cuda);
      require_equal(out_cuda, out_cpu);
      const Tensor g = random_of(out_cpu.shape(), dt);
      // Atomics add repeated rows in another order than the CPU's sequential sum.
      const double tol = dt == kFloat64 ? 1e-10 : (dt == kFloat32 ? 1e-4 : tolerance(dt));
      require_close(grad_of(out_cuda, w_cuda, g.to(kCuda)), grad_of(out_cpu, w_cpu, g), tol);
    }
}

TEST_CASE("cuda index_select of a misaligned source falls back to narrower accesses", "[cuda]") {
  for (DType dt : {kFloat32, kFloat16, kUInt8, kFloat64}) {
    INFO(dtype_name(dt));
    const Tensor flat = random_of({1 + 64 * 32}, dt);
    // Contiguous, but element 0 sits one element past an aligned address.
    const Tensor x_cpu = flat.slice(0, 1).view({64, 32});
    const Tensor x_cuda = flat.to(kCuda).slice(0, 1).view({64, 32});
    const Tensor idx = randint(0, 64, {100});
    require_equal(index_select(x_cuda, 0, idx.to(kCuda)), index_select(x_cpu, 0, idx));
  }
}

TEST_CASE("cuda index_add accumulates duplicates like the CPU for every dtype", "[cuda]") {
  for (DType dt : kAllTypes)
    for (int64_t dim : {0, 1}) {
      INFO(describe(dt, {6, 5}, dim));
      const Shape out_shape = dim == 0 ? Shape{6, 5} : Shape{5, 6};
      const Shape src_shape = dim == 0 ? Shape{40, 5} : Shape{5, 40};
      const Tensor out = random_of(out_shape, dt), src = random_of(src_shape, dt);
      const Tensor idx = randint(0, 6, {40});
      Tensor out_cpu = out.clone(), out_cuda = out.to(kCuda);
      backend_for(kCpu).index_add(out_cpu, dim, idx, src);
      backend_for(kCuda).index_add(out_cuda, dim, idx.to(kCuda), src.to(kCuda));
      // Integers and bool are exact; uint8 wraps modulo 256 on both.
      const double tol = dt == kFloat32 ? 1e-5 : tolerance(dt);
      require_close(out_cuda, out_cpu, tol);
    }
}

TEST_CASE("cuda gather and scatter_add match the CPU for every dtype, dim and layout", "[cuda]") {
  for (DType dt : kAllTypes) {
    const Tensor x = random_of({6, 7, 8}, dt);
    for (int64_t dim = 0; dim < 3; ++dim) {
      INFO(describe(dt, x.shape(), dim));
      const int64_t size = x.shape()[static_cast<size_t>(dim)];
      // The index is smaller than x outside dim and longer along it.
      Shape ishape = {4, 5, 6};
      ishape[static_cast<size_t>(dim)] = 10;
      const Tensor idx = randint(0, size, ishape);
      require_equal(gather(x.to(kCuda), dim, idx.to(kCuda)), gather(x, dim, idx));
      // Transposed (non-contiguous) input and index.
      const Tensor xt = x.transpose(0, 2);
      Shape tshape = {6, 5, 4};
      tshape[static_cast<size_t>(2 - dim)] = 10;
      const Tensor it = randint(0, xt.shape()[static_cast<size_t>(dim)], tshape);
      require_equal(gather(x.to(kCuda).transpose(0, 2), dim, it.to(kCuda).transpose(0, 2)),
                    gather(xt, dim, it.transpose(0, 2)));
      // scatter_add: src larger than the index in every dim, duplicates along dim.
      Shape sshape = ishape;
      for (auto& s : sshape) s += 1;
      const Tensor src = random_of(sshape, dt);
      const double tol = dt == kFloat32 ? 1e-5 : tolerance(dt);
      require_close(scatter_add(x.to(kCuda), dim, idx.to(kCuda), src.to(kCuda)), scatter_add(x, dim, idx, src), tol);
      // Strided src and index.
      const Tensor src_t = random_of({sshape[2], sshape[1], sshape[0]}, dt);
      Shape ishape_t = {ishape[2], ishape[1], ishape[0]};
      const Tensor idx_t = randint(0, size, ishape_t);
      require_close(scatter_add(x.to(kCuda), dim, idx_t.to(kCuda).transpose(0, 2), src_t.to(kCuda).transpose(0, 2)),
                    scatter_add(x, dim, idx_t.transpose(0, 2), src_t.transpose(0, 2)), tol);
    }
  }
}

TEST_CASE("cuda gather / scatter_add gradients and one_hot match the CPU", "[cuda]") {
  for (DType dt : kFloatTypes)
    for (int64_t dim : {0, 1}) {
      INFO(describe(dt, {70000, 5}, dim));
      const Shape xshape = dim == 1 ? Shape{70000, 5} : Shape{5, 70000};
      auto [x_cpu, x_cuda] = leaf_pair(random_of(xshape, dt));
      Shape ishape = xshape;
      ishape[static_cast<size_t>(dim)] = 3;
      const Tensor idx = randint(0, xshape[static_cast<size_t>(dim)], ishape);
      const Tensor y_cpu = gather(x_cpu, dim, idx), y_cuda = gather(x_cuda, dim, idx.to(kCuda));
      require_equal(y_cuda, y_cpu);
      const Tensor g = random_of(ishape, dt);
      require_close(grad_of(y_cuda, x_cuda, g.to(kCuda)), grad_of(y_cpu, x_cpu, g), tolerance(dt));
      auto [s_cpu, s_cuda] = leaf_pair(random_of(ishape, dt));
      const Tensor base = random_of(xshape, dt);
      const Tensor z_cpu = scatter_add(base, dim, idx, s_cpu);
      const Tensor z_cuda = scatter_add(base.to(kCuda), dim, idx.to(kCuda), s_cuda);
      const Tensor gz = random_of(xshape, dt);
      require_close(grad_of(z_cuda, s_cuda, gz.to(kCuda)), grad_of(z_cpu, s_cpu, gz), tolerance(dt));
    }
  const Tensor labels = randint(0, 10, {3, 77});
  require_equal(one_hot(labels.to(kCuda), 10), one_hot(labels, 10));
}

// ---- optimizer updates ------------------------------------------------------------------------------

// A parameter-shaped (33, 65) operand on both devices: contiguous, or the transpose of a (65, 33) tensor.
Pair make_operand(DType dt, bool transposed, double scale = 1.0, bool positive = false) {
  Tensor base = random_of(transposed ? Shape{65, 33} : Shape{33, 65}, dt, scale);
  if (positive) base = base.abs();
  Tensor cuda = base.to(kCuda);
  Tensor cpu = base.clone();
  if (transposed) return {cpu.t(), cuda.t()};
  return {cpu, cuda};
}

TEST_CASE("cuda sgd_update matches the CPU bit for bit", "[cuda]") {
  for (DType dt : {kFloat32, kFloat64})
    for (double momentum : {0.0, 0.9})
      for (double dampening : {0.0, 0.25})
        for (bool nesterov : {false, true})
          for (double weight_decay : {0.0, 0.01})
            for (bool maximize : {false, true})
              for (bool transposed : {false, true}) {
                if (momentum == 0 && (dampening != 0 || nesterov)) continue;
                INFO(dtype_name(dt) << " momentum " << momentum << " dampening " << dampening << " nesterov "
                                    << nesterov << " weight_decay " << weight_decay << " maximize " << maximize
                                    << " transposed " << transposed);
                Pair p = make_operand(dt, transposed), buf = make_operand(dt, !transposed);
                for (int step = 0; step < 3; ++step) {
                  const Pair g = make_operand(dt, transposed && step == 1);
                  SgdUpdate u;
                  u.lr = 0.05;
                  u.momentum = momentum;
                  u.dampening = dampening;
                  u.nesterov = nesterov;
                  u.weight_decay = weight_decay;
                  u.maximize = maximize;
                  u.init_buffer = step == 0;
                  const Tensor b_cpu = momentum != 0 ? buf.cpu : Tensor(), b_cuda = momentum != 0 ? buf.cuda : Tensor();
                  backend_for(kCpu).sgd_update(p.cpu, g.cpu, b_cpu, u);
                  backend_for(kCuda).sgd_update(p.cuda, g.cuda, b_cuda, u);
                  require_equal(p.cuda, p.cpu);
                  if (momentum != 0) require_equal(buf.cuda, buf.cpu);
                }
              }
}

TEST_CASE("cuda adam_update matches the CPU bit for bit", "[cuda]") {
  for (DType dt : {kFloat32, kFloat64})
    for (bool amsgrad : {false, true})
      for (bool decoupled : {false, true})
        for (double weight_decay : {0.0, 0.1})
          for (bool maximize : {false, true})
            for (bool transposed : {false, true}) {
              INFO(dtype_name(dt) << " amsgrad " << amsgrad << " decoupled " << decoupled << " weight_decay "
                                  << weight_decay << " maximize " << maximize << " transposed " << transposed);
              Pair p = make_operand(dt, transposed), m = make_operand(dt, transposed, 0.1);
              Pair v = make_operand(dt, false, 0.01, true), vmax = make_operand(dt, !transposed, 0.01, true);
              for (int64_t step = 1; step <= 3; ++step) {
                const Pair g = make_operand(dt, transposed);
                AdamUpdate u;
                u.lr = 1e-2;
                u.beta1 = 0.9;
                u.beta2 = 0.99;
                u.eps = 1e-8;
                u.weight_decay = weight_decay;
                u.amsgrad = amsgrad;
                u.maximize = maximize;
                u.decoupled_weight_decay = decoupled;
                u.step = step;
                backend_for(kCpu).adam_update(p.cpu, g.cpu, m.cpu, v.cpu, amsgrad ? vmax.cpu : Tensor(), u);
                backend_for(kCuda).adam_update(p.cuda, g.cuda, m.cuda, v.cuda, amsgrad ? vmax.cuda : Tensor(), u);
                require_equal(p.cuda, p.cpu);
                require_equal(m.cuda, m.cpu);
                require_equal(v.cuda, v.cpu);
                if (amsgrad) require_equal(vmax.cuda, vmax.cpu);
              }
            }
}

TEST_CASE("cuda optimizers step CUDA parameters exactly like CPU ones", "[cuda]") {
  for (int which = 0; which < 3; ++which) {
    INFO("optimizer " << which);
    auto [p_cpu, p_cuda] = leaf_pair(random_of({17, 9}, kFloat32));
    std::unique_ptr<optim::Optimizer> o_cpu, o_cuda;
    if (which == 0) {
      o_cpu = std::make_unique<optim::SGD>(std::vector<Tensor>{p_cpu}, optim::SGDOptions(0.1).momentum(0.9));
      o_cuda = std::make_unique<optim::SGD>(std::vector<Tensor>{p_cuda}, optim::SGDOptions(0.1).momentum(0.9));
    } else if (which == 1) {
      o_cpu = std::make_unique<optim::Adam>(std::vector<Tensor>{p_cpu}, optim::AdamOptions(1e-2).amsgrad(true));
      o_cuda = std::make_unique<optim::Adam>(std::vector<Tensor>{p_cuda}, optim::AdamOptions(1e-2).amsgrad(true));
    } else {
      o_cpu = std::make_unique<optim::AdamW>(std::vector<Tensor>{p_cpu}, optim::AdamWOptions(1e-2));
      o_cuda = std::make_unique<optim::AdamW>(std::vector<Tensor>{p_cuda}, optim::AdamWOptions(1e-2));
    }
    for (int step = 0; step < 4; ++step) {
      const Tensor g = random_of({17, 9}, kFloat32);
      p_cpu.set_grad(g);
      p_cuda.set_grad(g.to(kCuda));
      o_cpu->step();
      o_cuda->step();
      require_equal(p_cuda.detach(), p_cpu.detach());
    }
  }
}

// ---- errors -----------------------------------------------------------------------------------------

TEST_CASE("cuda nn kernels reject what the CPU rejects", "[cuda]") {
  Backend& cuda = backend_for(kCuda);
  const Tensor i32 = random_of({4, 3}, kInt32).to(kCuda);
  REQUIRE_THROWS_AS(cuda.softmax(i32, 1, false, empty({4, 3}, TensorOptions(kInt32).with_device(kCuda))), Error);
  const Tensor h = random_of({4, 3}, kFloat16).to(kCuda);
  SgdUpdate u;
  u.lr = 0.1;
  REQUIRE_THROWS_AS(cuda.sgd_update(h, h.clone(), Tensor(), u), Error);
  AdamUpdate a;
  REQUIRE_THROWS_AS(cuda.adam_update(h, h.clone(), h.clone(), h.clone(), Tensor(), a), Error);
  u.momentum = 0.9;
  const Tensor f = random_of({4, 3}, kFloat32).to(kCuda);
  REQUIRE_THROWS_AS(cuda.sgd_update(f, f.clone(), Tensor(), u), Error);  // momentum without a buffer
  const Tensor idx32 = randint(0, 4, {3}).to(kInt32).to(kCuda);
  REQUIRE_THROWS_AS(cuda.index_select(f, 0, idx32, empty({3, 3}, TensorOptions(kFloat32).with_device(kCuda))), Error);
}

}  // namespace

// ---- batch norm: the cuDNN path and our kernels ------------------------------------------------------
// Training-mode batch norm runs on cuDNN when the build has it and the problem is exactly ours
// (src/backend/cuda/cuda_cudnn.h); TESSERA_CUDNN=0 forces our kernels. Every case runs on both
// paths against the CPU backend and the paths against each other, including the cases that
// must fall back (eval mode, 16-bit running stats, eps below any cuDNN minimum, huge batches).

namespace {

// Sets TESSERA_CUDNN for a scope: "0" forces our kernels, unset lets batch norm use cuDNN.
ScopedEnv bn_cudnn_setting(bool use_cudnn) { return ScopedEnv("TESSERA_CUDNN", use_cudnn ? nullptr : "0"); }

struct BnCase {
  std::string name;
  Shape shape;
  DType dt = kFloat32;
  bool training = true;
  bool affine = true;   // weight and bias
  bool running = true;  // running stats, of running_dt (cuDNN takes float32 ones only for 16-bit x)
  std::optional<DType> running_dt = std::nullopt;  // default: float32, or float64 for float64 x
  bool grad_x = true, grad_params = true;          // which inputs require grad
  double eps = 1e-5, scale = 2.0, offset = 5.0;    // x = N(0, 1) * scale + offset
};

struct BnRun {
  Tensor y, running_mean, running_var;
  std::vector<Tensor> grads;  // of x, weight, bias, those requiring grad
};

// The same values on `device`: a fresh copy (a leaf requiring grad when asked) or undefined.
Tensor on_device(const Tensor& values, const Device& device, bool requires_grad = false) {
  if (!values.defined()) return Tensor();
  Tensor t = device.is_cuda() ? values.detach().to(device) : values.detach().clone();
  if (requires_grad) t.requires_grad_(true);
  return t;
}

struct BnInputs {
  Tensor x, weight, bias, running_mean, running_var, grad_y;
};

BnInputs bn_inputs(const BnCase& c) {
  const int64_t ch = c.shape[1];
  const DType rdt = c.running_dt.value_or(c.dt == kFloat64 ? kFloat64 : kFloat32);
  BnInputs in;
  in.x = (random_of(c.shape, kFloat64, c.scale) + c.offset).to(c.dt);
  if (c.affine) {
    in.weight = random_of({ch}, c.dt);
    in.bias = random_of({ch}, c.dt);
  }
  if (c.running) {
    in.running_mean = random_of({ch}, rdt);
    in.running_var = (rand({ch}, kFloat64) + 0.5).to(rdt);
  }
  in.grad_y = random_of(c.shape, c.dt);
  return in;
}

BnRun run_bn(const BnCase& c, const BnInputs& in, const Device& device) {
  const Tensor x = on_device(in.x, device, c.grad_x);
  const Tensor w = on_device(in.weight, device, c.grad_params), b = on_device(in.bias, device, c.grad_params);
  BnRun r{Tensor(), on_device(in.running_mean, device), on_device(in.running_var, device), {}};
  r.y = batch_norm(x, r.running_mean, r.running_var, w, b, c.training, 0.1, c.eps);
  std::vector<Tensor> wrt;
  for (const Tensor& t : {x, w, b})
    if (t.defined() && t.requires_grad()) wrt.push_back(t);
  if (!wrt.empty()) r.grads = autograd::grad({r.y}, wrt, {on_device(in.grad_y, device)});
  return r;
}

void require_close_runs(const BnRun& got, const BnRun& want, double tol) {
  require_close(got.y, want.y, tol);
  if (want.running_mean.defined()) {
    INFO("running stats");
    require_close(got.running_mean, want.running_mean, bn_tolerance(want.running_mean.dtype()));
    require_close(got.running_var, want.running_var, bn_tolerance(want.running_var.dtype()));
  }
  REQUIRE(got.grads.size() == want.grads.size());
  for (size_t i = 0; i < want.grads.size(); ++i) {
    INFO("gradient " << i);
    require_close(got.grads[i], want.grads[i], tol);
  }
}

// Both CUDA paths against the CPU, then the cuDNN path against our kernels.
void check_bn_paths(const BnCase& c) {
  INFO(c.name << ": " << describe(c.dt, c.shape) << (c.training ? " training" : " eval"));
  const BnInputs in = bn_inputs(c);
  const BnRun cpu = run_bn(c, in, kCpu);
  std::vector<BnRun> cuda;
  for (bool use_cudnn : {true, false}) {
    INFO((use_cudnn ? "cuDNN where it applies" : "our kernels"));
    const ScopedEnv setting = bn_cudnn_setting(use_cudnn);
    cuda.push_back(run_bn(c, in, kCuda));
    require_close_runs(cuda.back(), cpu, bn_tolerance(c.dt));
  }
  INFO("cuDNN path against our kernels");
  require_close_runs(cuda[0], cuda[1], bn_tolerance(c.dt));
}

}  // namespace

TEST_CASE("cuda batch_norm on cuDNN and on our kernels both match the CPU", "[cuda]") {
  const std::vector<Shape> shapes = {{64, 7}, {2, 5}, {5, 3, 31}, {4, 3, 5, 7}, {2, 4, 100, 100}};
  for (DType dt : kFloatTypes) {
    for (const Shape& shape : shapes) {
      check_bn_paths({"running stats, weight and bias", shape, dt});
      check_bn_paths({"no running stats, no weight or bias", shape, dt, true, false, false});
      check_bn_paths({"eval (our kernels on both paths)", shape, dt, false});
      check_bn_paths({"eval without weight or bias", shape, dt, false, false});
    }
    check_bn_paths({"running stats in the input's dtype (16-bit: our kernels)", {6, 4, 9}, dt, true, true, true, dt});
    BnCase only_x{"input gradient alone (parameter gradients to scratch)", {6, 4, 9}, dt};
    only_x.grad_params = false;
    check_bn_paths(only_x);
    BnCase only_params{"parameter gradients alone (our kernels)", {6, 4, 9}, dt};
    only_params.grad_x = false;
    check_bn_paths(only_params);
  }
}

TEST_CASE("cuda batch_norm: eps decides the path and the cuDNN backward honours the forward's", "[cuda]") {
  for (DType dt : kFloatTypes) {
    // eps below any cuDNN minimum (CUDNN_BN_MIN_EPSILON >= 0): our kernels on both paths.
    BnCase negative{"negative eps", {8, 3, 20}, dt};
    negative.eps = -1e-3;
    check_bn_paths(negative);
    BnCase zero{"zero eps", {8, 3, 20}, dt};
    zero.eps = 0;
    check_bn_paths(zero);
    // A variance far below eps: save_invstd is mostly eps, so a backward that recomputed it
    // from another epsilon than the forward's would be far off.
    BnCase large{"eps 0.5 over a variance of 0.01", {8, 3, 20}, dt};
    large.eps = 0.5;
    large.scale = 0.1;
    large.offset = 1.0;
    check_bn_paths(large);
  }
}

TEST_CASE("cuda batch_norm: cuDNN's backward after our forward and ours after cuDNN's", "[cuda]") {
  for (DType dt : kFloatTypes) {
    for (double eps : {1e-5, 0.5}) {
      BnCase c{"mixed paths", {6, 3, 7, 5}, dt};
      c.eps = eps;
      c.scale = 0.3;
      INFO(describe(dt, c.shape) << " eps " << eps);
      const BnInputs in = bn_inputs(c);
      const BnRun cpu = run_bn(c, in, kCpu);
      for (bool forward_on_cudnn : {true, false}) {
        INFO((forward_on_cudnn ? "cuDNN forward, our backward" : "our forward, cuDNN backward"));
        const Tensor x = on_device(in.x, kCuda, true);
        const Tensor w = on_device(in.weight, kCuda, true), b = on_device(in.bias, kCuda, true);
        BnRun r{Tensor(), on_device(in.running_mean, kCuda), on_device(in.running_var, kCuda), {}};
        {
          const ScopedEnv setting = bn_cudnn_setting(forward_on_cudnn);
          r.y = batch_norm(x, r.running_mean, r.running_var, w, b, true, 0.1, c.eps);
        }
        const ScopedEnv setting = bn_cudnn_setting(!forward_on_cudnn);
        r.grads = autograd::grad({r.y}, {x, w, b}, {on_device(in.grad_y, kCuda)});
        require_close_runs(r, cpu, bn_tolerance(dt));
      }
    }
  }
}

TEST_CASE("cuda batch_norm beyond cuDNN's batch limit runs our kernels", "[cuda]") {
  // cuDNN's spatial batch norm takes at most 880801 images; one more falls back.
  BnCase c{"880802 x 2", {880802, 2}, kFloat32};
  c.scale = 1.0;
  c.offset = 0.0;
  check_bn_paths(c);
}
