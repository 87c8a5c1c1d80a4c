// Conformance cases for the Transformer primitives: fused attention (causal, cross-length and
// KV-cache-shaped), rms_norm and rotary embeddings, each against plain-loop float64 references.
#include <cmath>

#include "backend/conformance.h"

namespace ts::conformance {
namespace {

Tensor randn64(const Shape& s) { return randn(s, kFloat64); }

// q (B, H, T, D), k (B, H, S, D), v (B, H, S, Dv); causal keeps j <= i + S - T.
Host attention_ref(const Host& q, const Host& k, const Host& v, bool causal) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), S = k.size(2), Dv = v.size(3);
  Host out(Shape{B, H, T, Dv});
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        const int64_t keys = causal ? i + S - T + 1 : S;
        std::vector<double> p(static_cast<size_t>(keys));
        double m = -INFINITY, sum = 0;
        for (int64_t j = 0; j < keys; ++j) {
          double s = 0;
          for (int64_t d = 0; d < D; ++d) s += q({b, h, i, d}) * k({b, h, j, d});
          p[static_cast<size_t>(j)] = s * scale;
          m = std::max(m, s * scale);
        }
        for (auto& x : p) sum += (x = std::exp(x - m));
        for (int64_t e = 0; e < Dv; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < keys; ++j) acc += p[static_cast<size_t>(j)] / sum * v({b, h, j, e});
          out({b, h, i, e}) = acc;
        }
      }
  return out;
}

}  // namespace

void add_transformer_cases(std::vector<Case>& cases) {
  auto sdpa = [](bool causal) {
    return [causal](const std::vector<Tensor>& in) {
      return scaled_dot_product_attention(in[0], in[1], in[2], Tensor(), 0.0, causal);
    };
  };
  auto sdpa_ref = [](bool causal) {
    return [causal](const std::vector<Host>& in) { return attention_ref(in[0], in[1], in[2], causal); };
  };
  cases.push_back({"sdpa_causal", {randn64({2, 2, 5, 4}), randn64({2, 2, 5, 4}), randn64({2, 2, 5, 3})},
                   sdpa(true), sdpa_ref(true), {0, 1, 2}});
  cases.push_back({"sdpa_cross_lengths", {randn64({1, 2, 3, 4}), randn64({1, 2, 6, 4}), randn64({1, 2, 6, 5})},
                   sdpa(false), sdpa_ref(false), {0, 1, 2}});
  cases.push_back({"sdpa_causal_kv_cache", {randn64({1, 3, 2, 4}), randn64({1, 3, 5, 4}), randn64({1, 3, 5, 4})},
                   sdpa(true), sdpa_ref(true), {0, 1, 2}});
  cases.push_back({"rms_norm", {randn64({3, 6}), randn64({6})},
                   [](const auto& in) { return rms_norm(in[0], {6}, in[1], 1e-6); },
                   [](const auto& in) {
                     Host out(in[0].shape);
                     for (int64_t r = 0; r < 3; ++r) {
                       double ms = 0;
                       for (int64_t c = 0; c < 6; ++c) ms += in[0]({r, c}) * in[0]({r, c}) / 6;
                       for (int64_t c = 0; c < 6; ++c)
                         out({r, c}) = in[0]({r, c}) / std::sqrt(ms + 1e-6) * in[1].v[static_cast<size_t>(c)];
                     }
                     return out;
                   },
                   {0, 1}});
  cases.push_back({"rms_norm_3d_no_weight", {randn64({2, 3, 7})},
                   [](const auto& in) { return rms_norm(in[0], {7}, Tensor(), 1e-5); },
                   [](const auto& in) {
                     Host out(in[0].shape);
                     for (int64_t b = 0; b < 2; ++b)
                       for (int64_t t = 0; t < 3; ++t) {
                         double ms = 0;
                         for (int64_t c = 0; c < 7; ++c) ms += in[0]({b, t, c}) * in[0]({b, t, c}) / 7;
                         for (int64_t c = 0; c < 7; ++c) out({b, t, c}) = in[0]({b, t, c}) / std::sqrt(ms + 1e-5);
                       }
                     return out;
                   },
                   {0}});
  cases.push_back({"rotary_embedding", {randn64({2, 3, 4})},
                   [](const auto& in) {
                     auto [c, s] = rotary_tables(5, 3, 4, 100.0, in[0].dtype(), in[0].device());
                     return apply_rotary_embedding(in[0], c, s);
                   },
                   [](const auto& in) {
                     Host out(in[0].shape);
                     for (int64_t b = 0; b < 2; ++b)
                       for (int64_t t = 0; t < 3; ++t)
                         for (int64_t i = 0; i < 2; ++i) {
                           const double angle = static_cast<double>(5 + t) * std::pow(100.0, -2.0 * static_cast<double>(i) / 4);
                           const double x1 = in[0]({b, t, i}), x2 = in[0]({b, t, i + 2});
                           out({b, t, i}) = x1 * std::cos(angle) - x2 * std::sin(angle);
                           out({b, t, i + 2}) = x2 * std::cos(angle) + x1 * std::sin(angle);
                         }
                     return out;
                   },
                   {0}});
}

}  // namespace ts::conformance
