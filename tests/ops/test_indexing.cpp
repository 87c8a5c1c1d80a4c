// Indexing: index_select, gather, scatter_add, one_hot and embedding against PyTorch 1.13,
// accumulation of duplicate indices on the parallel paths, gradcheck and error messages.
#include "golden/index_loss_golden.h"
#include "test_util.h"

using namespace ts;
namespace g = golden::index_loss;
using test::rand_input;
using test::rand_input_transposed;
using test::require_close;
using test::require_gradcheck;
using test::require_values;

namespace {

Tensor i64(const std::vector<int64_t>& v, const Shape& s) { return tensor<int64_t>(v, s); }
Tensor f64(const std::vector<double>& v, const Shape& s) { return tensor<double>(v, s); }

// Serial reference of out.index_add_(dim, index, src), built from select + add_.
Tensor reference_index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  NoGradGuard no_grad;
  Tensor r = out.clone();
  const auto idx = index.to_vector<int64_t>();
  for (size_t j = 0; j < idx.size(); ++j) {
    Tensor dst = r.select(dim, idx[j]);
    dst.add_(src.select(dim, static_cast<int64_t>(j)));
  }
  return r;
}

// Integer-valued float64 data: sums are exact whatever the accumulation order.
Tensor small_ints(const Shape& shape) { return randint(-4, 5, shape).to(kFloat64); }

}  // namespace

TEST_CASE("index_select matches PyTorch on every dim, backward accumulates duplicates", "[index]") {
  const Tensor x = f64(g::idx_x, g::idx_x_shape);
  const std::vector<const std::vector<int64_t>*> idx = {&g::isel_index_dim0, &g::isel_index_dim1,
                                                        &g::isel_index_dim2};
  const std::vector<const std::vector<double>*> val = {&g::isel_dim0, &g::isel_dim1, &g::isel_dim2};
  const std::vector<const std::vector<double>*> grad = {&g::isel_grad_dim0, &g::isel_grad_dim1, &g::isel_grad_dim2};
  for (int64_t d = 0; d < 3; ++d) {
    INFO("dim " << d);
    const Tensor index = i64(*idx[static_cast<size_t>(d)], {4});
    const Tensor y = index_select(x, d, index);
    Shape expect = g::idx_x_shape;
    expect[static_cast<size_t>(d)] = 4;
    REQUIRE(y.shape() == expect);
    require_values(y, *val[static_cast<size_t>(d)], 0);
    require_values(index_select(x, d - 3, index), *val[static_cast<size_t>(d)], 0);
    // pure data movement: 16-bit and integer dtypes keep their bits
    REQUIRE(equal(index_select(x.to(kFloat16), d, index), y.to(kFloat16)));
    REQUIRE(equal(index_select(x.to(kInt32), d, index), y.to(kInt32)));
    Tensor xr = x.detach().requires_grad_(true);
    index_select(xr, d, index).backward(arange(0, y.numel(), 1, kFloat64).view(y.shape()));
    require_values(xr.grad(), *grad[static_cast<size_t>(d)], 0);
  }
}

TEST_CASE("index_select on non-contiguous and 0-d inputs", "[index]") {
  const Tensor x = f64(g::idx_x, g::idx_x_shape);  // (4, 5, 3)
  const Tensor xt = x.transpose(0, 2);              // (3, 5, 4), strided
  const Tensor y = index_select(xt, 1, i64({4, 0}, {2}));
  REQUIRE(y.shape() == Shape{3, 2, 4});
  const auto v = y.to_vector<double>();
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t k = 0; k < 4; ++k) {
        const int64_t src_j = j == 0 ? 4 : 0;
        REQUIRE(v[static_cast<size_t>((i * 2 + j) * 4 + k)] == g::idx_x[static_cast<size_t>((k * 5 + src_j) * 3 + i)]);
      }
  // a 0-d index keeps the dim with size 1; a 0-d input with a 0-d index stays 0-d
  REQUIRE(index_select(x, 1, scalar_tensor(int64_t{2})).shape() == Shape{4, 1, 3});
  const Tensor s = index_select(scalar_tensor(5.0, kFloat64), 0, scalar_tensor(int64_t{0}));
  REQUIRE(s.dim() == 0);
  REQUIRE(s.item<double>() == 5.0);
  REQUIRE(index_select(x, 0, zeros({0}, kInt64)).shape() == Shape{0, 5, 3});
}

TEST_CASE("index_add accumulates duplicates on every parallel split", "[index]") {
  // Shapes chosen to hit: outer == 1 with long rows (column blocks), outer == 1 with short rows
  // (destination-row blocks), many outer rows, and a tiny serial case.
  struct Case {
    Shape out_shape;
    int64_t dim;
    int64_t n;
  };
  for (const Case& c : std::vector<Case>{{{7, 5000}, 0, 3000}, {{50, 16}, 0, 20000}, {{64, 9, 33}, 1, 700},
                                         {{3, 4}, 1, 5}, {{2, 11, 4096}, 1, 40}}) {
    INFO("out " << shape_str(c.out_shape) << " dim " << c.dim << " n " << c.n);
    const int64_t size = c.out_shape[static_cast<size_t>(c.dim)];
    const Tensor index = randint(0, size, {c.n});
    Shape src_shape = c.out_shape;
    src_shape[static_cast<size_t>(c.dim)] = c.n;
    const Tensor base = small_ints(c.out_shape);
    const Tensor src = small_ints(src_shape);
    // index_add is reached through index_select's backward: grad_x = index_add(0, index, g)
    Tensor xr = base.detach().requires_grad_(true);
    index_select(xr, c.dim, index).backward(src);
    REQUIRE(equal(xr.grad(), reference_index_add(zeros_like(base), c.dim, index, src)));
  }
}

TEST_CASE("gather matches PyTorch", "[index]") {
  const Tensor x = f64(g::gather_x, {3, 4});
  require_values(gather(x, 1, i64(g::gather_idx1, {3, 2})), g::gather_dim1, 0);
  require_values(gather(x, 0, i64(g::gather_idx0, {2, 4})), g::gather_dim0, 0);
  require_values(gather(x, -2, i64(g::gather_idx0, {2, 4})), g::gather_dim0, 0);
  // index smaller than x outside the gathered dim (the general strided path)
  require_values(gather(x, 0, i64(g::gather_idx_small, {2, 2})), g::gather_small_dim0, 0);
  // non-contiguous x: gather from x^T equals gathering x along the other dim
  const Tensor xt = f64(g::gather_x, {3, 4}).t();
  REQUIRE(equal(gather(xt, 0, i64(g::gather_idx1, {3, 2}).t()), gather(x, 1, i64(g::gather_idx1, {3, 2})).t()));
  REQUIRE(equal(gather(x.to(kBFloat16), 1, i64(g::gather_idx1, {3, 2})),
                gather(x, 1, i64(g::gather_idx1, {3, 2})).to(kBFloat16)));
  REQUIRE(gather(scalar_tensor(2.5, kFloat64), 0, scalar_tensor(int64_t{0})).item<double>() == 2.5);
}

TEST_CASE("scatter_add matches PyTorch", "[index]") {
  const Tensor base = f64(g::scatter_base, {3, 4});
  const Tensor src = f64(g::scatter_src, {2, 4});
  require_values(scatter_add(base, 0, i64(g::scatter_idx, {2, 4}), src), g::scatter_add_dim0, 1e-15);
  // index (2, 2) smaller than both src (2, 4) and base (3, 4)
  require_values(scatter_add(base, 1, i64(g::scatter_idx1, {2, 2}), src), g::scatter_add_dim1_small, 1e-15);
  // the input is not modified
  require_values(base, g::scatter_base, 0);
  // integer scatter with duplicates
  require_values(scatter_add(zeros({4}, kInt64), 0, i64({1, 1, 3, 1}, {4}), full({4}, 2, kInt64)), {0, 6, 0, 2}, 0);
}

TEST_CASE("gather / scatter_add on large shapes agree with a serial reference", "[index]") {
  for (int64_t dim : {0, 1, 2}) {
    INFO("dim " << dim);
    const Shape shape{40, 30, 50};
    const Tensor x = small_ints(shape);
    Shape ishape = shape;
    ishape[static_cast<size_t>(dim)] = 25;
    const Tensor index = randint(0, shape[static_cast<size_t>(dim)], ishape);
    const Tensor y = gather(x, dim, index);
    // gather along dim == index_select per line: compare with a loop over one coordinate
    const auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
    const auto iv = index.to_vector<int64_t>();
    const Strides xs = contiguous_strides(shape), is = contiguous_strides(ishape);
    for (int64_t k = 0; k < index.numel(); ++k) {
      int64_t rem = k, off = 0;
      for (size_t d = 0; d < 3; ++d) {
        const int64_t c = rem / is[d];
        rem %= is[d];
        off += (static_cast<int64_t>(d) == dim ? iv[static_cast<size_t>(k)] : c) * xs[d];
      }
      REQUIRE(yv[static_cast<size_t>(k)] == xv[static_cast<size_t>(off)]);
    }
    // scatter_add then reads back as the sum over duplicates: compare totals per line with
    // the backward of gather (which is a scatter_add of the gradient)
    Tensor xr = x.detach().requires_grad_(true);
    const Tensor gout = small_ints(ishape);
    gather(xr, dim, index).backward(gout);
    REQUIRE(equal(xr.grad(), scatter_add(zeros(shape, kFloat64), dim, index, gout)));
    Tensor expect = zeros(shape, kFloat64);
    {
      auto ev = std::vector<double>(static_cast<size_t>(expect.numel()), 0.0);
      const auto gv = gout.to_vector<double>();
      for (int64_t k = 0; k < index.numel(); ++k) {
        int64_t rem = k, off = 0;
        for (size_t d = 0; d < 3; ++d) {
          const int64_t c = rem / is[d];
          rem %= is[d];
          off += (static_cast<int64_t>(d) == dim ? iv[static_cast<size_t>(k)] : c) * xs[d];
        }
        ev[static_cast<size_t>(off)] += gv[static_cast<size_t>(k)];
      }
      expect = tensor<double>(ev, shape);
    }
    REQUIRE(equal(xr.grad(), expect));
  }
}

TEST_CASE("gradcheck: index_select, gather, scatter_add, embedding", "[index][gradcheck]") {
  const Tensor dup = i64({2, 0, 2, 1, 2}, {5});
  for (int64_t d = 0; d < 2; ++d) {
    require_gradcheck([&](const std::vector<Tensor>& in) { return index_select(in[0], d, dup); },
                      {rand_input({3, 4})});
    require_gradcheck([&](const std::vector<Tensor>& in) { return index_select(in[0], d, dup); },
                      {rand_input_transposed({3, 4})});
  }
  const Tensor gi1 = i64({0, 3, 3, 2, 2, 2, 1, 0, 1}, {3, 3});
  const Tensor gi0 = i64({2, 0, 1, 1, 0, 0, 2, 1}, {2, 4});
  require_gradcheck([&](const std::vector<Tensor>& in) { return gather(in[0], 1, gi1); }, {rand_input({3, 4})});
  require_gradcheck([&](const std::vector<Tensor>& in) { return gather(in[0], 0, gi0); }, {rand_input({3, 4})});
  require_gradcheck([&](const std::vector<Tensor>& in) { return gather(in[0], 0, gi0); },
                    {rand_input_transposed({3, 4})});
  // index smaller than x outside dim
  require_gradcheck([&](const std::vector<Tensor>& in) { return gather(in[0], 1, i64({1, 1, 0, 3}, {2, 2})); },
                    {rand_input({3, 4})});
  // scatter_add: x and src both differentiable; src larger than index; strided src
  require_gradcheck(
      [&](const std::vector<Tensor>& in) { return scatter_add(in[0], 0, gi0, in[1]); },
      {rand_input({3, 4}), rand_input({2, 4})});
  require_gradcheck(
      [&](const std::vector<Tensor>& in) { return scatter_add(in[0], 1, i64({3, 3, 0, 1}, {2, 2}), in[1]); },
      {rand_input({3, 4}), rand_input_transposed({2, 4})});
  const Tensor ei = i64({1, 4, 1, 0, 2, 1}, {2, 3});
  require_gradcheck([&](const std::vector<Tensor>& in) { return embedding(ei, in[0]); }, {rand_input({5, 3})});
  require_gradcheck([&](const std::vector<Tensor>& in) { return embedding(ei, in[0]); },
                    {rand_input_transposed({5, 3})});
}

TEST_CASE("one_hot matches PyTorch", "[index]") {
  const Tensor in = i64(g::one_hot_in, {2, 2});
  const Tensor five = one_hot(in, 5);
  REQUIRE(five.dtype() == kInt64);
  REQUIRE(five.shape() == Shape{2, 2, 5});
  require_values(five, std::vector<double>(g::one_hot_5.begin(), g::one_hot_5.end()), 0);
  const Tensor inferred = one_hot(in);
  REQUIRE(inferred.shape() == Shape{2, 2, 4});
  require_values(inferred, std::vector<double>(g::one_hot_infer.begin(), g::one_hot_infer.end()), 0);
  REQUIRE(one_hot(zeros({0}, kInt64), 3).shape() == Shape{0, 3});
  REQUIRE_THROWS_WITH(one_hot(in, 3), Catch::Contains("one_hot") && Catch::Contains("3"));
  REQUIRE_THROWS_WITH(one_hot(i64({-1}, {1}), 3), Catch::Contains("one_hot") && Catch::Contains("-1"));
  REQUIRE_THROWS_WITH(one_hot(zeros({0}, kInt64)), Catch::Contains("one_hot") && Catch::Contains("empty"));
  REQUIRE_THROWS_WITH(one_hot(zeros({2}, kFloat32), 3), Catch::Contains("one_hot") && Catch::Contains("float32"));
}

TEST_CASE("embedding matches PyTorch, backward accumulates repeated rows", "[index]") {
  const Tensor idx = i64(g::emb_i, {2, 3});
  Tensor w = f64(g::emb_w, {6, 3}).requires_grad_(true);
  const Tensor out = embedding(idx, w);
  REQUIRE(out.shape() == Shape{2, 3, 3});
  require_values(out, g::emb_out, 0);
  out.backward(f64(g::emb_gout, {2, 3, 3}));
  require_values(w.grad(), g::emb_grad, 1e-15);
  REQUIRE(embedding(scalar_tensor(int64_t{4}), w).shape() == Shape{3});
  REQUIRE_THROWS_WITH(embedding(i64({0, 6}, {2}), w),
                      Catch::Contains("embedding") && Catch::Contains("6") && Catch::Contains("[0, 5]"));
  REQUIRE_THROWS_WITH(embedding(zeros({2}, kFloat32), w), Catch::Contains("embedding") && Catch::Contains("float32"));
  REQUIRE_THROWS_WITH(embedding(i64({0}, {1}), randn({6})), Catch::Contains("embedding") && Catch::Contains("[6]"));
}

TEST_CASE("indexing ops reject bad indices and shapes", "[index]") {
  const Tensor x = randn({3, 4});
  REQUIRE_THROWS_WITH(index_select(x, 0, i64({0, 3}, {2})),
                      Catch::Contains("index_select") && Catch::Contains("index 3") && Catch::Contains("[0, 2]"));
  REQUIRE_THROWS_WITH(index_select(x, 1, i64({-1}, {1})),
                      Catch::Contains("index_select") && Catch::Contains("-1") && Catch::Contains("[0, 3]"));
  REQUIRE_THROWS_WITH(index_select(x, 0, tensor<float>({0})),
                      Catch::Contains("index_select") && Catch::Contains("float32"));
  REQUIRE_THROWS_WITH(index_select(x, 0, i64({0, 1}, {1, 2})),
                      Catch::Contains("index_select") && Catch::Contains("[1, 2]"));
  REQUIRE_THROWS_WITH(index_select(x, 2, i64({0}, {1})), Catch::Contains("index_select"));
  REQUIRE_THROWS_WITH(gather(x, 1, i64({0, 4}, {1, 2})),
                      Catch::Contains("gather") && Catch::Contains("index 4") && Catch::Contains("[0, 3]"));
  REQUIRE_THROWS_WITH(gather(x, 1, i64(std::vector<int64_t>(8, 0), {4, 2})),
                      Catch::Contains("gather") && Catch::Contains("[4, 2]") && Catch::Contains("[3, 4]"));
  REQUIRE_THROWS_WITH(gather(x, 1, i64({0}, {1})), Catch::Contains("gather") && Catch::Contains("dimensions"));
  REQUIRE_THROWS_WITH(gather(x, 1, zeros({3, 4}, kInt32)), Catch::Contains("gather") && Catch::Contains("int32"));
  REQUIRE_THROWS_WITH(scatter_add(x, 0, i64({0, 3}, {1, 2}), randn({1, 2})),
                      Catch::Contains("scatter_add") && Catch::Contains("index 3"));
  REQUIRE_THROWS_WITH(scatter_add(x, 0, i64({0, 1}, {1, 2}), randn({1, 2}, kFloat64)),
                      Catch::Contains("scatter_add") && Catch::Contains("float64"));
  REQUIRE_THROWS_WITH(scatter_add(x, 0, i64({0, 1, 2}, {1, 3}), randn({1, 2})),
                      Catch::Contains("scatter_add") && Catch::Contains("[1, 3]") && Catch::Contains("[1, 2]"));
}
