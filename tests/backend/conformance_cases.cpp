// The op cases of the conformance suite with their naive float64 references.
#include <cmath>

#include "backend/conformance.h"

namespace ts::conformance {
namespace {

// Calls fn(idx) for every multi-index of `shape` in row-major order.
void for_each_index(const Shape& shape, const std::function<void(const std::vector<int64_t>&)>& fn) {
  const int64_t n = numel_of(shape);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t k = 0; k < n; ++k) {
    fn(idx);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

// Value of `h` at output index `out_idx` under broadcasting to an output of out_idx.size() dims.
double bget(const Host& h, const std::vector<int64_t>& out_idx) {
  const size_t lead = out_idx.size() - h.shape.size();
  std::vector<int64_t> idx(h.shape.size());
  for (size_t d = 0; d < h.shape.size(); ++d) idx[d] = h.shape[d] == 1 ? 0 : out_idx[lead + d];
  return h(idx);
}

Shape bshape(const Shape& a, const Shape& b) { return broadcast_shapes(a, b, "reference"); }

Host map_unary(const Host& x, const std::function<double(double)>& f) {
  Host out(x.shape);
  for (size_t i = 0; i < x.v.size(); ++i) out.v[i] = f(x.v[i]);
  return out;
}

Host map_binary(const Host& a, const Host& b, const std::function<double(double, double)>& f) {
  Host out(bshape(a.shape, b.shape));
  for_each_index(out.shape, [&](const auto& idx) { out(idx) = f(bget(a, idx), bget(b, idx)); });
  return out;
}

// Reduces `dims` (keepdim=false) with fold(acc, v) from init, then finish(acc, count).
Host reduce_ref(const Host& x, const std::vector<int64_t>& dims, double init,
                const std::function<double(double, double)>& fold,
                const std::function<double(double, int64_t)>& finish = [](double a, int64_t) { return a; }) {
  Shape out_shape;
  std::vector<bool> red(x.shape.size(), dims.empty());
  for (auto d : dims) red[static_cast<size_t>(d)] = true;
  int64_t count = 1;
  for (size_t d = 0; d < x.shape.size(); ++d) {
    if (red[d]) {
      count *= x.shape[d];
    } else {
      out_shape.push_back(x.shape[d]);
    }
  }
  Host out(out_shape, init);
  for_each_index(x.shape, [&](const auto& idx) {
    std::vector<int64_t> o;
    for (size_t d = 0; d < idx.size(); ++d)
      if (!red[d]) o.push_back(idx[d]);
    out(o) = fold(out(o), x(idx));
  });
  for (auto& v : out.v) v = finish(v, count);
  return out;
}

Host softmax_ref(const Host& x, int64_t dim, bool log) {
  Host out(x.shape);
  Shape outer = x.shape;
  outer[static_cast<size_t>(dim)] = 1;
  for_each_index(outer, [&](const auto& base) {
    auto idx = base;
    double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < x.shape[static_cast<size_t>(dim)]; ++i) {
      idx[static_cast<size_t>(dim)] = i;
      m = std::max(m, x(idx));
    }
    for (int64_t i = 0; i < x.shape[static_cast<size_t>(dim)]; ++i) {
      idx[static_cast<size_t>(dim)] = i;
      s += std::exp(x(idx) - m);
    }
    for (int64_t i = 0; i < x.shape[static_cast<size_t>(dim)]; ++i) {
      idx[static_cast<size_t>(dim)] = i;
      out(idx) = log ? x(idx) - m - std::log(s) : std::exp(x(idx) - m) / s;
    }
  });
  return out;
}

Host conv2d_ref(const Host& x, const Host& w, const Host* b, int64_t stride, int64_t pad, int64_t dil, int64_t groups) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), kh = w.size(2), kw = w.size(3), cg = C / groups, og = O / groups;
  const int64_t Ho = (H + 2 * pad - dil * (kh - 1) - 1) / stride + 1, Wo = (W + 2 * pad - dil * (kw - 1) - 1) / stride + 1;
  Host out({N, O, Ho, Wo});
  for_each_index(out.shape, [&](const auto& i) {
    const int64_t n = i[0], o = i[1], g = o / og;
    double s = b ? b->v[static_cast<size_t>(o)] : 0.0;
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t u = 0; u < kh; ++u)
        for (int64_t v = 0; v < kw; ++v) {
          const int64_t y = i[2] * stride - pad + u * dil, xx = i[3] * stride - pad + v * dil;
          if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
          s += x({n, g * cg + c, y, xx}) * w({o, c, u, v});
        }
    out(i) = s;
  });
  return out;
}

// Pooling over k x k windows (stride s, padding p); `avg` counts padding (count_include_pad).
Host pool_ref(const Host& x, int64_t k, int64_t s, int64_t p, bool avg) {
  const int64_t H = x.size(2), W = x.size(3), Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
  Host out({x.size(0), x.size(1), Ho, Wo});
  for_each_index(out.shape, [&](const auto& i) {
    double acc = avg ? 0.0 : -INFINITY;
    for (int64_t u = 0; u < k; ++u)
      for (int64_t v = 0; v < k; ++v) {
        const int64_t y = i[2] * s - p + u, xx = i[3] * s - p + v;
        if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
        acc = avg ? acc + x({i[0], i[1], y, xx}) : std::max(acc, x({i[0], i[1], y, xx}));
      }
    out(i) = avg ? acc / static_cast<double>(k * k) : acc;
  });
  return out;
}

Host adaptive_avg_ref(const Host& x, int64_t oh, int64_t ow) {
  const int64_t H = x.size(2), W = x.size(3);
  Host out({x.size(0), x.size(1), oh, ow});
  for_each_index(out.shape, [&](const auto& i) {
    const int64_t h0 = i[2] * H / oh, h1 = ((i[2] + 1) * H + oh - 1) / oh;
    const int64_t w0 = i[3] * W / ow, w1 = ((i[3] + 1) * W + ow - 1) / ow;
    double s = 0;
    for (int64_t y = h0; y < h1; ++y)
      for (int64_t xx = w0; xx < w1; ++xx) s += x({i[0], i[1], y, xx});
    out(i) = s / static_cast<double>((h1 - h0) * (w1 - w0));
  });
  return out;
}

Tensor randn64(const Shape& s) { return randn(s, kFloat64); }
Tensor positive64(const Shape& s) { return rand(s, kFloat64) + 0.5; }
Tensor indices(std::vector<int64_t> v, const Shape& s) { return tensor(v, s, kInt64); }

void add_unary_cases(std::vector<Case>& cases) {
  struct U {
    const char* name;
    std::function<Tensor(const Tensor&)> op;
    std::function<double(double)> ref;
    bool positive;
  };
  const double inv_sqrt2 = 1.0 / std::sqrt(2.0), c = std::sqrt(2.0 / M_PI);
  const std::vector<U> unary = {
      {"neg", [](const Tensor& x) { return neg(x); }, [](double v) { return -v; }, false},
      {"abs", [](const Tensor& x) { return abs(x); }, [](double v) { return std::abs(v); }, false},
      {"exp", [](const Tensor& x) { return exp(x); }, [](double v) { return std::exp(v); }, false},
      {"log", [](const Tensor& x) { return log(x); }, [](double v) { return std::log(v); }, true},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, [](double v) { return std::sqrt(v); }, true},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, [](double v) { return 1 / std::sqrt(v); }, true},
      {"reciprocal", [](const Tensor& x) { return reciprocal(x); }, [](double v) { return 1 / v; }, true},
      {"square", [](const Tensor& x) { return square(x); }, [](double v) { return v * v; }, false},
      {"sin", [](const Tensor& x) { return sin(x); }, [](double v) { return std::sin(v); }, false},
      {"cos", [](const Tensor& x) { return cos(x); }, [](double v) { return std::cos(v); }, false},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](double v) { return std::tanh(v); }, false},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, [](double v) { return 1 / (1 + std::exp(-v)); }, false},
      {"relu", [](const Tensor& x) { return relu(x); }, [](double v) { return v > 0 ? v : 0; }, false},
      {"gelu", [](const Tensor& x) { return gelu(x); },
       [=](double v) { return 0.5 * v * (1 + std::erf(v * inv_sqrt2)); }, false},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); },
       [=](double v) { return 0.5 * v * (1 + std::tanh(c * (v + 0.044715 * v * v * v))); }, false},
      {"silu", [](const Tensor& x) { return silu(x); }, [](double v) { return v / (1 + std::exp(-v)); }, false},
      {"pow3", [](const Tensor& x) { return pow(x, 3); }, [](double v) { return v * v * v; }, false},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.8); }, [](double v) { return std::clamp(v, -0.5, 0.8); },
       false},
  };
  for (const auto& u : unary) {
    cases.push_back({u.name, {u.positive ? positive64({3, 7}) : randn64({3, 7})},
                     [op = u.op](const auto& in) { return op(in[0]); },
                     [ref = u.ref](const auto& in) { return map_unary(in[0], ref); }, {0}});
  }
}

void add_binary_cases(std::vector<Case>& cases) {
  struct B {
    const char* name;
    std::function<Tensor(const Tensor&, const Tensor&)> op;
    std::function<double(double, double)> ref;
  };
  const std::vector<B> binary = {
      {"add", [](const Tensor& a, const Tensor& b) { return a + b; }, [](double a, double b) { return a + b; }},
      {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }, [](double a, double b) { return a - b; }},
      {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }, [](double a, double b) { return a * b; }},
      {"div", [](const Tensor& a, const Tensor& b) { return a / b; }, [](double a, double b) { return a / b; }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); },
       [](double a, double b) { return std::max(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); },
       [](double a, double b) { return std::min(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); },
       [](double a, double b) { return std::pow(a, b); }},
  };
  for (const auto& b : binary) {
    cases.push_back({std::string(b.name) + "_broadcast", {positive64({2, 3, 4}), positive64({3, 1})},
                     [op = b.op](const auto& in) { return op(in[0], in[1]); },
                     [ref = b.ref](const auto& in) { return map_binary(in[0], in[1], ref); }, {0, 1}});
    cases.push_back({std::string(b.name) + "_strided", {positive64({4, 3}), positive64({3, 4})},
                     [op = b.op](const auto& in) { return op(in[0].t(), in[1]); },
                     [ref = b.ref](const auto& in) {
                       Host at(Shape{3, 4});
                       for_each_index(at.shape, [&](const auto& i) { at(i) = in[0]({i[1], i[0]}); });
                       return map_binary(at, in[1], ref);
                     },
                     {0, 1}});
  }
  cases.push_back({"lt", {randn64({3, 4}), randn64({4})},
                   [](const auto& in) { return lt(in[0], in[1]); },
                   [](const auto& in) { return map_binary(in[0], in[1], [](double a, double b) { return a < b ? 1.0 : 0.0; }); },
                   {}});
  cases.push_back({"where", {randn64({3, 4}), randn64({3, 4}), randn64({4})},
                   [](const auto& in) { return where(in[0] > 0, in[1], in[2]); },
                   [](const auto& in) {
                     Host out(Shape{3, 4});
                     for_each_index(out.shape, [&](const auto& i) { out(i) = in[0](i) > 0 ? in[1](i) : bget(in[2], i); });
                     return out;
                   },
                   {1, 2}});
  cases.push_back({"contiguous_copy", {randn64({3, 4, 5})},
                   [](const auto& in) { return in[0].permute({2, 0, 1}).contiguous(); },
                   [](const auto& in) {
                     Host out(Shape{5, 3, 4});
                     for_each_index(out.shape, [&](const auto& i) { out(i) = in[0]({i[1], i[2], i[0]}); });
                     return out;
                   },
                   {0}});
}

void add_reduction_cases(std::vector<Case>& cases) {
  const auto add = [](double a, double b) { return a + b; };
  cases.push_back({"sum_dims", {randn64({3, 4, 5})}, [](const auto& in) { return sum(in[0], {0, 2}); },
                   [=](const auto& in) { return reduce_ref(in[0], {0, 2}, 0.0, add); }, {0}});
  cases.push_back({"sum_all_long", {randn64({40000})}, [](const auto& in) { return sum(in[0]); },
                   [=](const auto& in) { return reduce_ref(in[0], {}, 0.0, add); }, {}, 20.0});
  cases.push_back({"mean_dim", {randn64({3, 4, 5})}, [](const auto& in) { return mean(in[0], {1}); },
                   [=](const auto& in) {
                     return reduce_ref(in[0], {1}, 0.0, add, [](double a, int64_t n) { return a / static_cast<double>(n); });
                   },
                   {0}});
  cases.push_back({"prod_dim", {positive64({3, 4})}, [](const auto& in) { return prod(in[0], {1}); },
                   [](const auto& in) { return reduce_ref(in[0], {1}, 1.0, [](double a, double b) { return a * b; }); }, {0}});
  cases.push_back({"max_all", {randn64({4, 6})}, [](const auto& in) { return max(in[0]); },
                   [](const auto& in) { return reduce_ref(in[0], {}, -INFINITY, [](double a, double b) { return std::max(a, b); }); },
                   {0}});
  cases.push_back({"min_dim", {randn64({4, 6})}, [](const auto& in) { return min(in[0], 1).first; },
                   [](const auto& in) { return reduce_ref(in[0], {1}, INFINITY, [](double a, double b) { return std::min(a, b); }); },
                   {0}});
  cases.push_back({"argmax_dim", {randn64({4, 6})}, [](const auto& in) { return argmax(in[0], 0); },
                   [](const auto& in) {
                     Host out(Shape{6});
                     for (int64_t j = 0; j < 6; ++j) {
                       int64_t best = 0;
                       for (int64_t i = 1; i < 4; ++i)
                         if (in[0]({i, j}) > in[0]({best, j})) best = i;
                       out.v[static_cast<size_t>(j)] = static_cast<double>(best);
                     }
                     return out;
                   },
                   {}});
  cases.push_back({"var_dim", {randn64({5, 6})}, [](const auto& in) { return var(in[0], {0}); },
                   [](const auto& in) {
                     Host m = reduce_ref(in[0], {0}, 0.0, [](double a, double b) { return a + b; },
                                         [](double a, int64_t n) { return a / static_cast<double>(n); });
                     Host out(Shape{6});
                     for (int64_t j = 0; j < 6; ++j) {
                       double s = 0;
                       for (int64_t i = 0; i < 5; ++i) s += std::pow(in[0]({i, j}) - m.v[static_cast<size_t>(j)], 2);
                       out.v[static_cast<size_t>(j)] = s / 4;
                     }
                     return out;
                   },
                   {0}});
}

Host matmul_ref(const Host& a, const Host& b) {  // (B?, M, K) @ (K, N)
  const int64_t K = b.size(0), N = b.size(1), rows = static_cast<int64_t>(a.v.size()) / K;
  Shape out_shape(a.shape.begin(), a.shape.end() - 1);
  out_shape.push_back(N);
  Host out(out_shape);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += a.v[static_cast<size_t>(r * K + k)] * b.v[static_cast<size_t>(k * N + n)];
      out.v[static_cast<size_t>(r * N + n)] = s;
    }
  return out;
}

void add_linalg_nn_cases(std::vector<Case>& cases) {
  cases.push_back({"matmul_batched", {randn64({2, 3, 4}), randn64({4, 5})},
                   [](const auto& in) { return matmul(in[0], in[1]); },
                   [](const auto& in) { return matmul_ref(in[0], in[1]); }, {0, 1}});
  cases.push_back({"matmul_transposed", {randn64({6, 4}), randn64({5, 6})},
                   [](const auto& in) { return matmul(in[0].t(), in[1].t()); },
                   [](const auto& in) {
                     Host at(Shape{4, 6}), bt(Shape{6, 5});
                     for_each_index(at.shape, [&](const auto& i) { at(i) = in[0]({i[1], i[0]}); });
                     for_each_index(bt.shape, [&](const auto& i) { bt(i) = in[1]({i[1], i[0]}); });
                     return matmul_ref(at, bt);
                   },
                   {0, 1}});
  cases.push_back({"softmax", {randn64({3, 5, 2})}, [](const auto& in) { return softmax(in[0], 1); },
                   [](const auto& in) { return softmax_ref(in[0], 1, false); }, {0}});
  cases.push_back({"log_softmax", {randn64({4, 6})}, [](const auto& in) { return log_softmax(in[0], -1); },
                   [](const auto& in) { return softmax_ref(in[0], 1, true); }, {0}});
  cases.push_back({"cross_entropy", {randn64({4, 5}), indices({1, 0, 4, 2}, {4})},
                   [](const auto& in) { return cross_entropy(in[0], in[1]); },
                   [](const auto& in) {
                     Host ls = softmax_ref(in[0], 1, true);
                     Host out(Shape{});
                     for (int64_t i = 0; i < 4; ++i) out.v[0] -= ls({i, static_cast<int64_t>(in[1].v[static_cast<size_t>(i)])}) / 4;
                     return out;
                   },
                   {0}});
  // Long rows (the fused kernel's block loop) with an ignored target, per-row losses.
  cases.push_back({"cross_entropy_rows_ignore_index", {randn64({5, 300}), indices({7, -100, 299, 0, 150}, {5})},
                   [](const auto& in) { return cross_entropy(in[0], in[1], Tensor(), Reduction::None, -100); },
                   [](const auto& in) {
                     Host ls = softmax_ref(in[0], 1, true);
                     Host out(Shape{5});
                     for (int64_t i = 0; i < 5; ++i) {
                       const auto t = static_cast<int64_t>(in[1].v[static_cast<size_t>(i)]);
                       out.v[static_cast<size_t>(i)] = t == -100 ? 0.0 : -ls({i, t});
                     }
                     return out;
                   },
                   {0}});
  cases.push_back({"mse_loss", {randn64({3, 4}), randn64({3, 4})}, [](const auto& in) { return mse_loss(in[0], in[1]); },
                   [](const auto& in) {
                     Host out(Shape{});
                     for (size_t i = 0; i < in[0].v.size(); ++i) out.v[0] += std::pow(in[0].v[i] - in[1].v[i], 2) / 12;
                     return out;
                   },
                   {0, 1}});
  cases.push_back({"conv2d_groups_stride_pad", {randn64({2, 4, 6, 5}), randn64({6, 2, 3, 3}), randn64({6})},
                   [](const auto& in) { return conv2d(in[0], in[1], in[2], {2, 2}, {1, 1}, {1, 1}, 2); },
                   [](const auto& in) { return conv2d_ref(in[0], in[1], &in[2], 2, 1, 1, 2); }, {0, 1, 2}});
  cases.push_back({"conv2d_dilation", {randn64({1, 3, 7, 7}), randn64({2, 3, 3, 3})},
                   [](const auto& in) { return conv2d(in[0], in[1], Tensor(), {1, 1}, {2, 2}, {2, 2}, 1); },
                   [](const auto& in) { return conv2d_ref(in[0], in[1], nullptr, 1, 2, 2, 1); }, {0, 1}});
  cases.push_back({"max_pool2d", {randn64({2, 3, 7, 6})},
                   [](const auto& in) { return max_pool2d(in[0], {3, 3}, {2, 2}, {1, 1}); },
                   [](const auto& in) { return pool_ref(in[0], 3, 2, 1, false); }, {0}});
  cases.push_back({"avg_pool2d", {randn64({2, 3, 6, 6})},
                   [](const auto& in) { return avg_pool2d(in[0], {2, 2}, {2, 2}, {1, 1}); },
                   [](const auto& in) { return pool_ref(in[0], 2, 2, 1, true); }, {0}});
  cases.push_back({"adaptive_avg_pool2d", {randn64({2, 3, 5, 7})},
                   [](const auto& in) { return adaptive_avg_pool2d(in[0], {3, 2}); },
                   [](const auto& in) { return adaptive_avg_ref(in[0], 3, 2); }, {0}});
  cases.push_back({"layer_norm", {randn64({3, 4, 6}), randn64({6}), randn64({6})},
                   [](const auto& in) { return layer_norm(in[0], {6}, in[1], in[2]); },
                   [](const auto& in) {
                     Host out(in[0].shape);
                     for (int64_t r = 0; r < 12; ++r) {
                       double m = 0, v = 0;
                       for (int64_t j = 0; j < 6; ++j) m += in[0].v[static_cast<size_t>(r * 6 + j)] / 6;
                       for (int64_t j = 0; j < 6; ++j) v += std::pow(in[0].v[static_cast<size_t>(r * 6 + j)] - m, 2) / 6;
                       for (int64_t j = 0; j < 6; ++j)
                         out.v[static_cast<size_t>(r * 6 + j)] =
                             (in[0].v[static_cast<size_t>(r * 6 + j)] - m) / std::sqrt(v + 1e-5) * in[1].v[static_cast<size_t>(j)] +
                             in[2].v[static_cast<size_t>(j)];
                     }
                     return out;
                   },
                   {0, 1, 2}});
  cases.push_back({"batch_norm_train", {randn64({4, 3, 2, 2}), randn64({3}), randn64({3})},
                   [](const auto& in) { return batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true); },
                   [](const auto& in) {
                     Host out(in[0].shape);
                     for (int64_t c = 0; c < 3; ++c) {
                       double m = 0, v = 0;
                       for_each_index({4, 2, 2}, [&](const auto& i) { m += in[0]({i[0], c, i[1], i[2]}) / 16; });
                       for_each_index({4, 2, 2}, [&](const auto& i) { v += std::pow(in[0]({i[0], c, i[1], i[2]}) - m, 2) / 16; });
                       for_each_index({4, 2, 2}, [&](const auto& i) {
                         out({i[0], c, i[1], i[2]}) = (in[0]({i[0], c, i[1], i[2]}) - m) / std::sqrt(v + 1e-5) *
                                                          in[1].v[static_cast<size_t>(c)] + in[2].v[static_cast<size_t>(c)];
                       });
                     }
                     return out;
                   },
                   {0, 1, 2}});
}

void add_indexing_cases(std::vector<Case>& cases) {
  cases.push_back({"index_select", {randn64({3, 5}), indices({4, 0, 4}, {3})},
                   [](const auto& in) { return index_select(in[0], 1, in[1]); },
                   [](const auto& in) {
                     Host out(Shape{3, 3});
                     for_each_index(out.shape, [&](const auto& i) { out(i) = in[0]({i[0], static_cast<int64_t>(in[1].v[static_cast<size_t>(i[1])])}); });
                     return out;
                   },
                   {0}});
  cases.push_back({"embedding", {indices({2, 0, 2, 1}, {2, 2}), randn64({3, 4})},
                   [](const auto& in) { return embedding(in[0], in[1]); },
                   [](const auto& in) {
                     Host out(Shape{2, 2, 4});
                     for_each_index(out.shape, [&](const auto& i) { out(i) = in[1]({static_cast<int64_t>(in[0]({i[0], i[1]})), i[2]}); });
                     return out;
                   },
                   {1}});
  cases.push_back({"gather", {randn64({3, 4}), indices({0, 3, 1, 1, 2, 2}, {3, 2})},
                   [](const auto& in) { return gather(in[0], 1, in[1]); },
                   [](const auto& in) {
                     Host out(Shape{3, 2});
                     for_each_index(out.shape, [&](const auto& i) { out(i) = in[0]({i[0], static_cast<int64_t>(in[1](i))}); });
                     return out;
                   },
                   {0}});
  cases.push_back({"scatter_add", {randn64({3, 4}), indices({0, 0, 3, 1, 2, 2}, {3, 2}), randn64({3, 2})},
                   [](const auto& in) { return scatter_add(in[0], 1, in[1], in[2]); },
                   [](const auto& in) {
                     Host out = in[0];
                     for_each_index(in[1].shape, [&](const auto& i) { out({i[0], static_cast<int64_t>(in[1](i))}) += in[2](i); });
                     return out;
                   },
                   {0, 2}});
  cases.push_back({"cat", {randn64({2, 3}), randn64({2, 1})}, [](const auto& in) { return cat({in[0], in[1]}, 1); },
                   [](const auto& in) {
                     Host out(Shape{2, 4});
                     for_each_index(out.shape, [&](const auto& i) { out(i) = i[1] < 3 ? in[0](i) : in[1]({i[0], 0}); });
                     return out;
                   },
                   {0, 1}});
}

}  // namespace

std::vector<Case> all_cases() {
  manual_seed(2024);
  std::vector<Case> cases;
  add_unary_cases(cases);
  add_binary_cases(cases);
  add_reduction_cases(cases);
  add_linalg_nn_cases(cases);
  add_indexing_cases(cases);
  add_transformer_cases(cases);
  return cases;
}

}  // namespace ts::conformance
