// embedding(indices, weight): rows of `weight` picked by `indices`, i.e. index_select on the
// flattened indices; its backward (an index_add into the weight gradient) accumulates
// repeated indices.
#include "ops/index_check.h"
#include "ops/op_utils.h"
#include "tessera/nn_functional.h"

namespace ts {

Tensor embedding(const Tensor& indices, const Tensor& weight) {
  constexpr const char* op = "embedding";
  TS_CHECK(indices.defined() && weight.defined(), "{}: input tensor is undefined", op);
  ops::check_index_dtype(op, indices);
  ops::check_same_device(op, {&indices, &weight});
  TS_CHECK(weight.dim() == 2, "{}: weight must be 2-d (num_embeddings, embedding_dim) but has shape {}", op,
           shape_str(weight.shape()));
  const int64_t rows = weight.shape()[0];
  // Checked here too so the message names embedding rather than index_select.
  ops::check_index_range(op, indices, rows, fmt::format("a weight with {} rows", rows));
  Shape shape = indices.shape();
  shape.push_back(weight.shape()[1]);
  return index_select(weight, 0, indices.reshape({-1})).view(shape);
}

}  // namespace ts
