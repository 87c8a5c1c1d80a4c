// Tensor parallelism over the whole world as one tp group (np 1, 2 and 4): the parallel GPT
// block, vocabulary-parallel embedding and cross-entropy, and the region ops match their
// dense counterparts in forward and in every gradient (each rank checks its shards).
#include <tessera/dist/tensor_parallel.h>

#include "dist_test_util.h"

using namespace ts;

namespace {

// CHECK (not REQUIRE: every rank must keep issuing the same collectives) that a ~= b.
void check_close(const Tensor& a, const Tensor& b, const char* what, double tol = 1e-5) {
  INFO("rank " << dist::rank() << ", " << what << ": " << a << " vs " << b);
  CHECK(a.shape() == b.shape());
  if (a.shape() == b.shape()) CHECK(allclose(a.to(kFloat64), b.to(kFloat64), tol, tol));
}

// This rank's rows [r * n/size, ...) of dim `dim`.
Tensor shard(const Tensor& t, int64_t dim, const dist::GroupPtr& g) {
  const int64_t part = t.size(dim) / g->size();
  return t.narrow(dim, g->rank() * part, part);
}

}  // namespace

TEST_CASE("tensor-parallel GPT block matches the dense block, forward and gradients", "[dist][tp]") {
  const auto group = test::world();
  nn::TransformerConfig c;
  c.n_embd = 16;
  c.n_head = 4;
  c.block_size = 8;
  manual_seed(7);  // the same dense weights and inputs on every rank
  nn::TransformerBlock dense(c);
  dist::ParallelTransformerBlock tp(c, group);
  tp.load_dense(dense);
  const Tensor x = randn({2, 8, 16}).requires_grad_(true);
  const Tensor x_tp = x.detach().clone().requires_grad_(true);
  const Tensor w = randn({2, 8, 16});
  const Tensor y = dense.forward(x), y_tp = tp.forward(x_tp);
  check_close(y_tp, y, "block output");
  sum(y * w).backward();
  sum(y_tp * w).backward();
  check_close(x_tp.grad(), x.grad(), "grad of the input");
  check_close(tp.ln_1->named_parameters()[0].second.grad(), dense.ln_1->named_parameters()[0].second.grad(), "ln_1");
  // c_attn: this rank's q, k and v rows of the dense gradient.
  const int64_t C = 16;
  std::vector<Tensor> rows;
  for (int64_t i = 0; i < 3; ++i) rows.push_back(shard(dense.attn->c_attn->weight.grad().narrow(0, i * C, C), 0, group));
  check_close(tp.attn->c_attn->weight.grad(), cat(rows, 0), "attn.c_attn.weight");
  check_close(tp.attn->c_proj->weight.grad(), shard(dense.attn->c_proj->weight.grad(), 1, group), "attn.c_proj.weight");
  check_close(tp.attn->c_proj->bias.grad(), dense.attn->c_proj->bias.grad(), "attn.c_proj.bias");
  check_close(tp.mlp->c_fc->weight.grad(), shard(dense.mlp->c_fc->weight.grad(), 0, group), "mlp.c_fc.weight");
  check_close(tp.mlp->c_fc->bias.grad(), shard(dense.mlp->c_fc->bias.grad(), 0, group), "mlp.c_fc.bias");
  check_close(tp.mlp->c_proj->weight.grad(), shard(dense.mlp->c_proj->weight.grad(), 1, group), "mlp.c_proj.weight");
}

TEST_CASE("vocabulary-parallel embedding, LM head and cross-entropy match the dense ones", "[dist][tp]") {
  const auto group = test::world();
  manual_seed(8);
  const int64_t V = 12, C = 6, N = 10;
  const Tensor emb = randn({V, C}), head = randn({V, C});
  const Tensor ids = randint(0, V, {N}), target = randint(0, V, {N});
  // Dense reference.
  const Tensor emb_d = emb.clone().requires_grad_(true), head_d = head.clone().requires_grad_(true);
  const Tensor loss_d = cross_entropy(linear(embedding(ids, emb_d), head_d), target);
  loss_d.backward();
  // Parallel: vocab-parallel embedding, column-parallel head, vocab-parallel loss.
  dist::VocabParallelEmbedding emb_p(V, C, group);
  emb_p.load_dense(emb);
  dist::ColumnParallelLinear head_p(C, V, group, /*bias=*/false);
  head_p.load_dense(head, Tensor());
  const Tensor loss_p = dist::vocab_parallel_cross_entropy(head_p.forward(emb_p.forward(ids)), target, group);
  check_close(loss_p, loss_d, "loss");
  loss_p.backward();
  check_close(emb_p.weight.grad(), shard(emb_d.grad(), 0, group), "embedding grad");
  check_close(head_p.weight.grad(), shard(head_d.grad(), 0, group), "head grad");
}

TEST_CASE("gather/scatter region ops are adjoint and round-trip", "[dist][tp]") {
  const auto group = test::world();
  manual_seed(9);
  const Tensor x = randn({3, 4 * group->size()}).requires_grad_(true);
  const Tensor mine = dist::scatter_to_parallel_region(x, group);
  check_close(mine, shard(x.detach(), 1, group), "scatter");
  const Tensor back = dist::gather_from_parallel_region(mine, group);
  check_close(back, x.detach(), "gather(scatter(x))");
  const Tensor w = randn(x.shape());
  sum(back * w).backward();
  check_close(x.grad(), w, "gradient through gather(scatter(x))");
  const std::string err = test::error_of([&] { dist::scatter_to_parallel_region(randn({2, 4 * group->size() + 1}), group); });
  if (group->size() > 1) CHECK_THAT(err, Catch::Contains("does not split"));
}
