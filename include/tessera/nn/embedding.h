#pragma once
/// Embedding (torch.nn.Embedding): a lookup table of learned vectors.
#include "tessera/nn/module.h"

namespace ts::nn {

/// Int64 indices of any shape -> (*indices.shape, embedding_dim). weight
/// (num_embeddings, embedding_dim) ~ N(0, 1) as in PyTorch.
class Embedding : public UnaryModule {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim);
  Tensor forward(const Tensor& indices) override;
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t num_embeddings() const { return num_embeddings_; }
  int64_t embedding_dim() const { return embedding_dim_; }

  Tensor weight;

 private:
  int64_t num_embeddings_;
  int64_t embedding_dim_;
};

}  // namespace ts::nn
