// scaled_dot_product_attention: softmax(q k^T * scale + mask) v over the last two dims.
// Without an explicit mask or dropout it runs the backend's fused kernel, which never builds
// the (T x S) score matrix for the whole batch nor a causal mask tensor and keeps only the
// per-row log-sum-exp for the backward. With a mask or dropout it is composed from
// differentiable ops (PyTorch's math path), which is also the reference the tests compare
// the fused kernel against.
#include <cmath>

#include "ops/op_utils.h"
#include "tessera/nn_functional.h"

namespace ts {
using autograd::Node;
using autograd::SavedTensor;

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v, bool is_causal) {
  TS_CHECK(q.defined() && k.defined() && v.defined(), "{}: query, key and value must be defined", kOp);
  TS_CHECK((q.dim() == 3 || q.dim() == 4) && k.dim() == q.dim() && v.dim() == q.dim(),
           "{}: expected query, key and value all (B, H, T, D) or all (B, T, D) but got {}, {} and {}", kOp,
           shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()));
  TS_CHECK(q.is_floating_point() && k.dtype() == q.dtype() && v.dtype() == q.dtype(),
           "{}: query, key and value must share one floating-point dtype but got {}, {} and {}", kOp,
           dtype_name(q.dtype()), dtype_name(k.dtype()), dtype_name(v.dtype()));
  ops::check_same_device(kOp, {&q, &k, &v});
  const int64_t n = q.dim();
  bool batch_match = true;
  for (int64_t d = 0; d < n - 2; ++d) batch_match = batch_match && k.size(d) == q.size(d) && v.size(d) == q.size(d);
  TS_CHECK(batch_match && k.size(-1) == q.size(-1) && v.size(-2) == k.size(-2),
           "{}: shapes do not match: query {} (.., T, D), key {} (.., S, D) and value {} (.., S, Dv) must share "
           "the leading dims, key must have query's D and value key's S",
           kOp, shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()));
  TS_CHECK(!is_causal || q.size(-2) <= k.size(-2),
           "{}: is_causal needs at most as many queries as keys (the mask aligns to the last key) but got T={} "
           "and S={}",
           kOp, q.size(-2), k.size(-2));
}

// Bool (T, S): true where query i may attend key j, i.e. j <= i + S - T.
Tensor causal_keep_mask(int64_t t, int64_t s, Device device) {
  const TensorOptions opts = TensorOptions(DType::Int64).with_device(device);
  return unsqueeze(arange(t, opts), 1) + (s - t) >= unsqueeze(arange(s, opts), 0);
}

Tensor composed_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                          double dropout_p, bool is_causal, double scale) {
  Tensor scores = matmul(q, transpose(k, -2, -1)) * scale;
  const double neg_inf = -std::numeric_limits<double>::infinity();
  if (is_causal) scores = masked_fill(scores, logical_not(causal_keep_mask(q.size(-2), k.size(-2), q.device())), neg_inf);
  if (attn_mask.defined()) {
    scores = attn_mask.dtype() == DType::Bool ? masked_fill(scores, logical_not(attn_mask), neg_inf)
                                              : scores + attn_mask;
  }
  Tensor probs = softmax(scores, -1);
  if (dropout_p > 0) probs = dropout(probs, dropout_p, true);
  return matmul(probs, v);
}

// q, k, v 4-D. Records one autograd node for the whole attention.
Tensor fused_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool is_causal, double scale) {
  const AttentionParams params{scale, is_causal};
  const DType stats = q.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  Tensor out = make_tensor({q.size(0), q.size(1), q.size(2), v.size(3)}, q.dtype(), q.device());
  Tensor lse = make_tensor({q.size(0), q.size(1), q.size(2)}, stats, q.device());
  if (out.numel() > 0) backend_for(q).attention(q, k, v, params, out, lse);
  if (autograd::any_requires_grad({&q, &k, &v})) {
    autograd::record(kOp, {q, k, v}, {out},
                     [params, lse, sq = SavedTensor(q), sk = SavedTensor(k), sv = SavedTensor(v),
                      so = SavedTensor(out)](const std::vector<Tensor>& g, const Node& self) {
                       const Tensor qs = sq.unpack(self), ks = sk.unpack(self), vs = sv.unpack(self);
                       const Tensor os = so.unpack(self);
                       Tensor gq = make_tensor(qs.shape(), qs.dtype(), qs.device());
                       Tensor gk = make_tensor(ks.shape(), ks.dtype(), ks.device());
                       Tensor gv = make_tensor(vs.shape(), vs.dtype(), vs.device());
                       if (os.numel() > 0) {
                         backend_for(qs).attention_backward(ops::cast(g[0], os.dtype()), qs, ks, vs, os, lse,
                                                            params, gq, gk, gv);
                       } else {
                         NoGradGuard no_grad;
                         gq.zero_();
                         gk.zero_();
                         gv.zero_();
                       }
                       return std::vector<Tensor>{gq, gk, gv};
                     });
  }
  return out;
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale) {
  check_inputs(query, key, value, is_causal);
  TS_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, "{}: dropout_p must be in [0, 1] but got {}", kOp, dropout_p);
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(query.size(-1), 1))));
  TS_CHECK(s > 0 && std::isfinite(s), "{}: scale must be positive and finite but got {}", kOp, s);
  if (attn_mask.defined()) {
    TS_CHECK(attn_mask.dtype() == DType::Bool || attn_mask.dtype() == query.dtype(),
             "{}: attn_mask must be Bool (true = attend) or the query's dtype {} but got {}", kOp,
             dtype_name(query.dtype()), dtype_name(attn_mask.dtype()));
  }
  if (attn_mask.defined() || dropout_p > 0)
    return composed_attention(query, key, value, attn_mask, dropout_p, is_causal, s);
  if (query.dim() == 4) return fused_attention(query, key, value, is_causal, s);
  const Tensor out = fused_attention(unsqueeze(query, 1), unsqueeze(key, 1), unsqueeze(value, 1), is_causal, s);
  return squeeze(out, 1);
}

}  // namespace ts
