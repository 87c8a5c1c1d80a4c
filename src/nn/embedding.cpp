#include "tessera/nn/embedding.h"

#include "tessera/creation.h"
#include "tessera/nn/init.h"
#include "tessera/nn_functional.h"

namespace ts::nn {

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim)
    : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {
  TS_CHECK(num_embeddings > 0 && embedding_dim > 0,
           "Embedding: num_embeddings and embedding_dim must be positive, got {} and {}", num_embeddings,
           embedding_dim);
  weight = register_parameter("weight", empty({num_embeddings, embedding_dim}));
  reset_parameters();
}

void Embedding::reset_parameters() { init::normal_(weight, 0.0, 1.0); }

Tensor Embedding::forward(const Tensor& indices) { return embedding(indices, weight); }

std::string Embedding::extra_repr() const { return fmt::format("{}, {}", num_embeddings_, embedding_dim_); }

}  // namespace ts::nn
