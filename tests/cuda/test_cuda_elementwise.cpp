// CUDA elementwise kernels (copy/cast, fill, unary and their gradients, binary, where) and the
// Philox random fills, each checked against the CPU backend on the same inputs: every dtype
// the op takes, contiguous, misaligned, transposed, strided and broadcast operands, odd sizes.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <tessera/tessera.h>

#include "cuda/cuda_test_util.h"

namespace ts {
namespace {

using namespace cuda_test;

/// NaN, infinities, signed zeros, tiny and huge values.
Tensor specials(DType dt) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  return tensor<double>({nan, inf, -inf, 0.0, -0.0, 1.0, -1.0, 1e-30, 1e30, 0.5, -2.5, 7.0}, {12}).to(dt);
}

/// Ways to lay out an (r, c) operand.
std::vector<Layout> layouts(int64_t r, int64_t c) {
  return {
      contiguous_layout({r, c}),
      misaligned_layout({r, c}),
      {"transposed", {c, r}, [](const Tensor& t) { return t.t(); }},
      strided_layout({r, c}),
      broadcast_layout({r, c}, 0),
  };
}

const std::vector<Shape> kShapes = {{1, 1}, {1, 31}, {33, 33}, {1000, 3}};

// ---- copy and fill --------------------------------------------------------------------------------

TEST_CASE("cuda copy converts between every pair of dtypes", "[cuda]") {
  for (DType from : kAllTypes) {
    for (DType to : kAllTypes) {
      for (const Shape& s : kShapes) {
        for (const Layout& l : layouts(s[0], s[1])) {
          CAPTURE(dtype_name(from), dtype_name(to), shape_str(s), l.name);
          Tensor base = random_values(l.base, from);
          // Negative floats to uint8 are undefined behaviour in C++ (and differ between devices).
          if (to == kUInt8 && is_floating_point(from)) base = base.abs();
          const Pair p = on_both(base, l.view);
          require_match(p.cuda.to(to), p.cpu.to(to), 0.0);
        }
      }
    }
  }
}

TEST_CASE("cuda copy writes into strided destinations", "[cuda]") {
  for (DType from : {kFloat32, kFloat64, kFloat16, kInt64}) {
    for (DType to : kAllTypes) {
      CAPTURE(dtype_name(from), dtype_name(to));
      Tensor src = random_values({37, 29}, from);
      if (to == kUInt8 && is_floating_point(from)) src = src.abs();
      const Pair s = on_both(src);
      // a transposed destination, and a column slice of a wider one
      Pair d = on_both(zeros({29, 37}, TensorOptions(to)), [](const Tensor& t) { return t.t(); });
      d.cpu.copy_(s.cpu);
      d.cuda.copy_(s.cuda);
      require_match(d.cuda, d.cpu, 0.0);
      Pair w = on_both(zeros({37, 64}, TensorOptions(to)));
      w.cpu.slice(1, 3, 61, 2).copy_(s.cpu);
      w.cuda.slice(1, 3, 61, 2).copy_(s.cuda);
      require_match(w.cuda, w.cpu, 0.0);
      // a broadcast source
      Pair b = on_both(zeros({37, 29}, TensorOptions(to)));
      b.cpu.copy_(s.cpu.slice(0, 0, 1));
      b.cuda.copy_(s.cuda.slice(0, 0, 1));
      require_match(b.cuda, b.cpu, 0.0);
    }
  }
}

TEST_CASE("cuda copy of large tensors (vector path, tails, > 2^16 blocks of work)", "[cuda]") {
  const int64_t n = (int64_t(1) << 21) + 3;
  for (auto [from, to] : {std::pair{kFloat32, kFloat16}, std::pair{kFloat16, kFloat32}, std::pair{kFloat64, kBFloat16},
                          std::pair{kFloat32, kFloat32}, std::pair{kInt64, kFloat64}}) {
    CAPTURE(dtype_name(from), dtype_name(to));
    const Pair p = on_both(random_values({n}, from));
    require_match(p.cuda.to(to), p.cpu.to(to), 0.0);
    const Pair t = on_both(random_values({1031, 2053}, from), [](const Tensor& x) { return x.t(); });
    require_match(t.cuda.to(to), t.cpu.to(to), 0.0);
    require_match(t.cuda.contiguous(), t.cpu.contiguous(), 0.0);
  }
}

TEST_CASE("cuda fill, full and fill_ on strided views", "[cuda]") {
  for (DType dt : kAllTypes) {
    for (double v : {0.0, 1.0, 2.75, 100.5}) {
      CAPTURE(dtype_name(dt), v);
      for (const Shape& s : {Shape{}, Shape{1}, Shape{31}, Shape{1000, 3}, Shape{70001}}) {
        require_match(full(s, v, TensorOptions(dt).with_device(kCuda)), full(s, v, TensorOptions(dt)), 0.0);
      }
      Pair p = on_both(random_values({33, 66}, dt));
      p.cpu.slice(1, 1, 66, 2).fill_(v);
      p.cuda.slice(1, 1, 66, 2).fill_(v);
      require_match(p.cuda, p.cpu, 0.0);
      p.cpu.t().zero_();
      p.cuda.t().zero_();
      require_match(p.cuda, p.cpu, 0.0);
    }
  }
  // negative values and extremes for the dtypes that hold them
  for (DType dt : {kFloat32, kFloat64, kFloat16, kBFloat16, kInt32, kInt64}) {
    for (double v : {-1.5, -1e4, 1e-3}) {
      CAPTURE(dtype_name(dt), v);
      require_match(full({129}, v, TensorOptions(dt).with_device(kCuda)), full({129}, v, TensorOptions(dt)), 0.0);
    }
  }
  for (DType dt : kFloatTypes) {
    for (double v : {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(), 1e300}) {
      CAPTURE(dtype_name(dt), v);
      require_match(full({5}, v, TensorOptions(dt).with_device(kCuda)), full({5}, v, TensorOptions(dt)), 0.0);
    }
  }
}

// ---- unary --------------------------------------------------------------------------------------

struct UnaryCase {
  std::string name;
  std::function<Tensor(const Tensor&)> fn;
  bool positive = false;  ///< needs inputs > 0
  bool integer = false;   ///< also defined on integer tensors
};

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", [](const Tensor& x) { return neg(x); }, false, true},
      {"abs", [](const Tensor& x) { return abs(x); }, false, true},
      {"sign", [](const Tensor& x) { return sign(x); }, false, true},
      {"exp", [](const Tensor& x) { return exp(x); }},
      {"log", [](const Tensor& x) { return log(x); }, true},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, true},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, true},
      {"reciprocal", [](const Tensor& x) { return reciprocal(x); }},
      {"square", [](const Tensor& x) { return square(x); }, false, true},
      {"sin", [](const Tensor& x) { return sin(x); }},
      {"cos", [](const Tensor& x) { return cos(x); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"relu", [](const Tensor& x) { return relu(x); }, false, true},
      {"gelu", [](const Tensor& x) { return gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }},
      {"silu", [](const Tensor& x) { return silu(x); }},
      {"pow 2", [](const Tensor& x) { return pow(x, 2); }},
      {"pow 3", [](const Tensor& x) { return pow(x, 3.0); }},
      {"pow 0", [](const Tensor& x) { return pow(x, 0.0); }},
      {"pow 0.5", [](const Tensor& x) { return pow(x, 0.5); }, true},
      {"pow -1.5", [](const Tensor& x) { return pow(x, -1.5); }, true},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.75); }, false, true},
      {"clamp min", [](const Tensor& x) { return clamp(x, -0.25, std::nullopt); }, false, true},
      {"clamp max", [](const Tensor& x) { return clamp(x, std::nullopt, 10); }, false, true},
  };
}

Tensor input_for(const UnaryCase& c, const Shape& shape, DType dt) {
  Tensor x = random_values(shape, dt);
  if (c.positive) x = (x.to(kFloat64).abs() + 0.1).to(dt);
  return x;
}

TEST_CASE("cuda unary ops on every float dtype and layout", "[cuda]") {
  for (const UnaryCase& c : unary_cases()) {
    for (DType dt : kFloatTypes) {
      for (const Shape& s : kShapes) {
        for (const Layout& l : layouts(s[0], s[1])) {
          CAPTURE(c.name, dtype_name(dt), shape_str(s), l.name);
          const Pair p = on_both(input_for(c, l.base, dt), l.view);
          require_match(c.fn(p.cuda), c.fn(p.cpu));
        }
      }
      CAPTURE(c.name, dtype_name(dt));
      const Pair big = on_both(input_for(c, {(1 << 20) + 5}, dt));
      require_match(c.fn(big.cuda), c.fn(big.cpu));
    }
  }
}

TEST_CASE("cuda unary ops propagate NaN and handle infinities and signed zeros like the CPU", "[cuda]") {
  for (const UnaryCase& c : unary_cases()) {
    for (DType dt : kFloatTypes) {
      CAPTURE(c.name, dtype_name(dt));
      const Pair p = on_both(specials(dt));
      require_match(c.fn(p.cuda), c.fn(p.cpu));
    }
  }
}

TEST_CASE("cuda integer unary ops", "[cuda]") {
  for (const UnaryCase& c : unary_cases()) {
    if (!c.integer) continue;
    for (DType dt : {kInt32, kInt64, kUInt8}) {
      for (const Layout& l : layouts(45, 7)) {
        CAPTURE(c.name, dtype_name(dt), l.name);
        const Pair p = on_both(random_values(l.base, dt), l.view);
        require_match(c.fn(p.cuda), c.fn(p.cpu), 0.0);
      }
    }
  }
  // ops the op layer computes in float for integer inputs
  const Pair p = on_both(random_values({100}, kInt32));
  require_match(exp(p.cuda), exp(p.cpu));
  require_match(sigmoid(p.cuda), sigmoid(p.cpu));
}

TEST_CASE("cuda logical_not on every dtype", "[cuda]") {
  for (DType dt : kAllTypes) {
    for (const Layout& l : layouts(33, 5)) {
      CAPTURE(dtype_name(dt), l.name);
      const Pair p = on_both(random_quarters(l.base, dt), l.view);
      require_match(logical_not(p.cuda), logical_not(p.cpu), 0.0);
    }
  }
  for (DType dt : kFloatTypes) {
    const Pair p = on_both(specials(dt));
    require_match(logical_not(p.cuda), logical_not(p.cpu), 0.0);
  }
}

TEST_CASE("cuda unary backward matches the CPU's gradients", "[cuda]") {
  for (const UnaryCase& c : unary_cases()) {
    for (DType dt : kFloatTypes) {
      for (const Layout& l : {layouts(67, 9)[0], layouts(67, 9)[2]}) {
        CAPTURE(c.name, dtype_name(dt), l.name);
        const Tensor base = input_for(c, l.base, dt);
        const Tensor upstream = random_values({67, 9}, dt);
        // Leaves that are views (a transposed leaf gives kernels strided x and grad).
        Tensor xc = l.view(base.clone()).requires_grad_(true);
        Tensor xg = l.view(base.to(kCuda)).requires_grad_(true);
        c.fn(xc).backward(upstream);
        c.fn(xg).backward(upstream.to(kCuda));
        require_match(xg.grad(), xc.grad());
      }
    }
  }
}

// ---- binary ---------------------------------------------------------------------------------------

struct BinaryCase {
  std::string name;
  std::function<Tensor(const Tensor&, const Tensor&)> fn;
  bool on_bool = true;        ///< defined for bool tensors
  bool positive_base = false; ///< float pow: a > 0
};

std::vector<BinaryCase> binary_cases() {
  return {
      {"add", [](const Tensor& a, const Tensor& b) { return a + b; }},
      {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }, false},
      {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }},
      {"div", [](const Tensor& a, const Tensor& b) { return a / b; }},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }, false, true},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
      {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }},
      {"ne", [](const Tensor& a, const Tensor& b) { return ne(a, b); }},
      {"lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }},
      {"le", [](const Tensor& a, const Tensor& b) { return le(a, b); }},
      {"gt", [](const Tensor& a, const Tensor& b) { return gt(a, b); }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); }},
      {"logical_and", [](const Tensor& a, const Tensor& b) { return logical_and(a, b); }},
      {"logical_or", [](const Tensor& a, const Tensor& b) { return logical_or(a, b); }},
  };
}

/// Operands for `c` on `dt`: quarters (ties for the comparisons); pow gets a positive float
/// base, or small integer bases and exponents in [0, 4) that stay exact.
std::pair<Tensor, Tensor> binary_inputs(const BinaryCase& c, const Shape& sa, const Shape& sb, DType dt) {
  if (c.name == "pow" && !is_floating_point(dt)) {
    const int64_t low = dt == kUInt8 ? 0 : -5;
    return {randint(low, 5, sa, TensorOptions(dt)), randint(0, 4, sb, TensorOptions(dt))};
  }
  Tensor a = random_quarters(sa, dt), b = random_quarters(sb, dt);
  if (c.positive_base) a = (a.to(kFloat64).abs() + 0.25).to(dt);
  return {a, b};
}

/// a's layout and b's shape relative to an (r, c) output: the broadcasting patterns of training.
struct BinaryLayout {
  std::string name;
  Layout a;
  Shape b;
};

std::vector<BinaryLayout> binary_layouts(int64_t r, int64_t c) {
  const std::vector<Layout> ls = layouts(r, c);
  return {
      {"same shape", ls[0], {r, c}}, {"row broadcast", ls[0], {c}},  {"column broadcast", ls[0], {r, 1}},
      {"scalar", ls[0], {}},         {"misaligned", ls[1], {r, c}},   {"transposed", ls[2], {r, c}},
      {"strided", ls[3], {c}},       {"broadcast a", ls[4], {r, c}},
  };
}

TEST_CASE("cuda binary ops on every dtype with broadcasting and strided operands", "[cuda]") {
  for (const BinaryCase& c : binary_cases()) {
    for (DType dt : kAllTypes) {
      if (dt == kBool && !c.on_bool) continue;
      for (const Shape& s : kShapes) {
        for (const BinaryLayout& l : binary_layouts(s[0], s[1])) {
          CAPTURE(c.name, dtype_name(dt), shape_str(s), l.name);
          const auto [a, b] = binary_inputs(c, l.a.base, l.b, dt);
          const Pair pa = on_both(a, l.a.view), pb = on_both(b);
          require_match(c.fn(pa.cuda, pb.cuda), c.fn(pa.cpu, pb.cpu));
          // swapped operands (not for integer pow: negative exponents of 0 are undefined)
          if (c.name != "pow" || is_floating_point(dt)) require_match(c.fn(pb.cuda, pa.cuda), c.fn(pb.cpu, pa.cpu));
        }
      }
    }
  }
}

TEST_CASE("cuda binary ops on large tensors and with NaN and infinities", "[cuda]") {
  for (const BinaryCase& c : binary_cases()) {
    for (DType dt : kFloatTypes) {
      CAPTURE(c.name, dtype_name(dt));
      const auto [a, b] = binary_inputs(c, {(1 << 20) + 7}, {(1 << 20) + 7}, dt);
      const Pair pa = on_both(a), pb = on_both(b);
      require_match(c.fn(pa.cuda, pb.cuda), c.fn(pa.cpu, pb.cpu));
      // every pair of special values
      const Pair sa = on_both(specials(dt).view({12, 1}).expand({12, 12}));
      const Pair sb = on_both(specials(dt));
      require_match(c.fn(sa.cuda, sb.cuda), c.fn(sa.cpu, sb.cpu));
    }
  }
}

TEST_CASE("cuda in-place binary ops write strided destinations", "[cuda]") {
  for (DType dt : {kFloat32, kFloat64, kFloat16, kBFloat16, kInt32, kInt64}) {
    CAPTURE(dtype_name(dt));
    Pair self = on_both(random_quarters({40, 30}, dt), [](const Tensor& t) { return t.t(); });
    const Pair other = on_both(random_quarters({40}, dt));
    self.cpu.add_(other.cpu);
    self.cuda.add_(other.cuda);
    self.cpu.mul_(other.cpu);
    self.cuda.mul_(other.cuda);
    self.cpu.sub_(other.cpu);
    self.cuda.sub_(other.cuda);
    require_match(self.cuda, self.cpu);
    if (is_floating_point(dt)) {
      const Pair nz = on_both(random_quarters({40}, dt).to(kFloat64).abs().add_(0.5).to(dt));
      self.cpu.div_(nz.cpu);
      self.cuda.div_(nz.cuda);
      require_match(self.cuda, self.cpu);
    }
  }
}

TEST_CASE("cuda binary backward (with broadcasting and ties) matches the CPU", "[cuda]") {
  for (const BinaryCase& c : binary_cases()) {
    if (c.name == "eq") break;  // the rest are not differentiable
    for (DType dt : kFloatTypes) {
      for (const Shape& sb : {Shape{23, 17}, Shape{17}, Shape{23, 1}}) {
        CAPTURE(c.name, dtype_name(dt), shape_str(sb));
        auto [a, b] = binary_inputs(c, {23, 17}, sb, dt);
        if (c.name == "div") b = (b.to(kFloat64).abs() + 0.5).to(dt);
        const Tensor upstream = random_values({23, 17}, dt);
        Tensor ac = a.clone().requires_grad_(true), bc = b.clone().requires_grad_(true);
        Tensor ag = a.to(kCuda).requires_grad_(true), bg = b.to(kCuda).requires_grad_(true);
        c.fn(ac, bc).backward(upstream);
        c.fn(ag, bg).backward(upstream.to(kCuda));
        require_match(ag.grad(), ac.grad());
        require_match(bg.grad(), bc.grad());
      }
    }
  }
}

// ---- where ----------------------------------------------------------------------------------------

TEST_CASE("cuda where on every dtype with broadcast operands, and its backward", "[cuda]") {
  for (DType dt : kAllTypes) {
    for (const Shape& s : kShapes) {
      for (const BinaryLayout& l : binary_layouts(s[0], s[1])) {
        CAPTURE(dtype_name(dt), shape_str(s), l.name);
        const Pair cond = on_both(rand({s[1]}, kFloat64) < 0.5);
        const Pair a = on_both(random_values(l.a.base, dt), l.a.view), b = on_both(random_values(l.b, dt));
        require_match(where(cond.cuda, a.cuda, b.cuda), where(cond.cpu, a.cpu, b.cpu), 0.0);
        const Pair full_cond = on_both(rand(s, kFloat64) < 0.5);
        require_match(where(full_cond.cuda, b.cuda, a.cuda), where(full_cond.cpu, b.cpu, a.cpu), 0.0);
      }
    }
  }
  for (DType dt : kFloatTypes) {
    CAPTURE(dtype_name(dt));
    const Pair cond = on_both(rand({19, 21}, kFloat64) < 0.5);
    const Tensor a = random_values({19, 21}, dt), b = random_values({21}, dt), upstream = random_values({19, 21}, dt);
    Tensor ac = a.clone().requires_grad_(true), bc = b.clone().requires_grad_(true);
    Tensor ag = a.to(kCuda).requires_grad_(true), bg = b.to(kCuda).requires_grad_(true);
    where(cond.cpu, ac, bc).backward(upstream);
    where(cond.cuda, ag, bg).backward(upstream.to(kCuda));
    require_match(ag.grad(), ac.grad());
    require_match(bg.grad(), bc.grad());
    // NaN and infinities pass through unchanged
    const Pair s = on_both(specials(dt)), cs = on_both(rand({12}, kFloat64) < 0.5);
    require_match(where(cs.cuda, s.cuda, -s.cuda), where(cs.cpu, s.cpu, -s.cpu), 0.0);
  }
}

// ---- random ---------------------------------------------------------------------------------------

TEST_CASE("cuda rand reproduces the CPU's Philox stream exactly", "[cuda]") {
  for (DType dt : kFloatTypes) {
    for (int64_t n : {int64_t(1), int64_t(31), int64_t(1000), int64_t(70001)}) {
      CAPTURE(dtype_name(dt), n);
      manual_seed(1234);
      const Tensor c1 = rand({n}, TensorOptions(dt)), c2 = rand({n, 3}, TensorOptions(dt));
      manual_seed(1234);
      const Tensor g1 = rand({n}, TensorOptions(dt).with_device(kCuda));
      const Tensor g2 = rand({n, 3}, TensorOptions(dt).with_device(kCuda));  // a non-zero counter offset
      require_match(g1, c1, 0.0);
      require_match(g2, c2, 0.0);
    }
  }
  manual_seed(7);
  const Tensor ci = randint(-1000, 1000, {4099});
  manual_seed(7);
  require_match(randint(-1000, 1000, {4099}, TensorOptions(kInt64).with_device(kCuda)), ci, 0.0);
}

TEST_CASE("cuda randn and normal_ match the CPU's stream", "[cuda]") {
  for (DType dt : kFloatTypes) {
    for (int64_t n : {int64_t(1), int64_t(33), int64_t(70001)}) {
      CAPTURE(dtype_name(dt), n);
      manual_seed(99);
      const Tensor c = randn({n}, TensorOptions(dt));
      manual_seed(99);
      const Tensor g = randn({n}, TensorOptions(dt).with_device(kCuda));
      // CUDA's double log/cos may differ from glibc's in the last bit: allow an ulp.
      require_match(g, c, dt == kFloat64 ? 1e-14 : tolerance(dt) / 100);
    }
  }
  // fills of (non-contiguous) existing tensors, each dtype including the integer ones
  for (DType dt : kAllTypes) {
    CAPTURE(dtype_name(dt));
    Pair p = on_both(zeros({50, 40}, TensorOptions(dt)), [](const Tensor& t) { return t.t(); });
    // Negative doubles to uint8 are undefined behaviour in C++ (x86 wraps, the GPU clamps to 0).
    const double low = dt == kUInt8 ? 0.0 : -3.0;
    manual_seed(5);
    uniform_(p.cpu, low, 7.0);
    manual_seed(5);
    uniform_(p.cuda, low, 7.0);
    // an ulp of double of slack: a CPU build without FMA rounds low + (high - low) * u twice
    require_match(p.cuda, p.cpu, dt == kFloat64 ? 1e-15 : 0.0);
    if (!is_floating_point(dt)) continue;
    manual_seed(6);
    normal_(p.cpu, 2.0, 0.5);
    manual_seed(6);
    normal_(p.cuda, 2.0, 0.5);
    require_match(p.cuda, p.cpu, dt == kFloat64 ? 1e-14 : tolerance(dt) / 100);
  }
}

TEST_CASE("cuda dropout draws the CPU's mask", "[cuda]") {
  for (DType dt : kFloatTypes) {
    CAPTURE(dtype_name(dt));
    const Pair x = on_both(random_values({129, 65}, dt));
    manual_seed(2024);
    const Tensor yc = dropout(x.cpu, 0.3, true);
    manual_seed(2024);
    const Tensor yg = dropout(x.cuda, 0.3, true);
    require_match(yg, yc);
    require_match(eq(yg, zeros({}, TensorOptions(dt).with_device(kCuda))), eq(yc, zeros({}, TensorOptions(dt))), 0.0);
  }
}

}  // namespace
}  // namespace ts
