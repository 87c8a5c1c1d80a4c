// DistributedSampler: shards are disjoint, equal-sized and cover the dataset; identical
// shuffles on every rank; the SubsetDataset + DataLoader path.
#include <algorithm>
#include <map>

#include "dist_test_util.h"

using namespace ts;

TEST_CASE("dist: DistributedSampler shards cover the dataset exactly once", "[dist][sampler]") {
  for (int replicas : {1, 2, 3, 4}) {
    for (int64_t n : {0, 3, 10, 11, 16}) {
      for (bool shuffle : {false, true}) {
        for (bool drop_last : {false, true}) {
          INFO("replicas " << replicas << " n " << n << " shuffle " << shuffle << " drop_last " << drop_last);
          std::map<int64_t, int> seen;
          int64_t per_rank = -1;
          for (int r = 0; r < replicas; ++r) {
            dist::DistributedSampler s(n, {.num_replicas = replicas, .rank = r, .shuffle = shuffle, .seed = 5,
                                           .drop_last = drop_last});
            s.set_epoch(3);
            auto idx = s.indices();
            CHECK(static_cast<int64_t>(idx.size()) == s.size());
            if (per_rank >= 0) CHECK(s.size() == per_rank);
            per_rank = s.size();
            for (int64_t i : idx) {
              CHECK(i >= 0);
              CHECK(i < n);
              ++seen[i];
            }
          }
          const int64_t total = per_rank * replicas;
          if (n % replicas == 0) {
            // Exactly once.
            CHECK(static_cast<int64_t>(seen.size()) == n);
            for (auto& [i, count] : seen) CHECK(count == 1);
          } else if (drop_last) {
            CHECK(total == n / replicas * replicas);
            for (auto& [i, count] : seen) CHECK(count == 1);
          } else {
            // Padded with repeats: every sample at least once.
            CHECK(total == (n + replicas - 1) / replicas * replicas);
            CHECK(static_cast<int64_t>(seen.size()) == n);
          }
        }
      }
    }
  }
}

TEST_CASE("dist: DistributedSampler shuffles per epoch, identically on every rank", "[dist][sampler]") {
  auto w = test::world();
  const int n = w->size();
  const int64_t size = 40;
  dist::DistributedSampler s(size, {.shuffle = true, .seed = 9});
  CHECK(s.num_replicas() == n);
  CHECK(s.rank() == w->rank());
  s.set_epoch(0);
  const auto e0 = s.indices();
  s.set_epoch(1);
  const auto e1 = s.indices();
  CHECK(e0 != e1);
  // The shards of all ranks, gathered, are a permutation of the dataset.
  Tensor mine = from_blob(const_cast<int64_t*>(e1.data()), {static_cast<int64_t>(e1.size())}, kInt64).clone();
  Tensor all = zeros({s.size() * n}, TensorOptions(kInt64));
  w->all_gather(mine, all);
  auto v = all.to_vector<int64_t>();
  std::sort(v.begin(), v.end());
  std::vector<int64_t> expected(size);
  for (int64_t i = 0; i < size; ++i) expected[static_cast<size_t>(i)] = i;
  CHECK(v == expected);
}

TEST_CASE("dist: a DataLoader over the sampler's shard reads this rank's samples", "[dist][sampler]") {
  const int64_t size = 24;
  Tensor values = arange(size, TensorOptions(kFloat32)).view({size, 1});
  auto dataset = std::make_shared<data::TensorDataset>(values, arange(size, TensorOptions(kInt64)));
  dist::DistributedSampler s(size, {.shuffle = true, .seed = 2});
  s.set_epoch(4);
  data::DataLoader loader(s.shard(dataset), {.batch_size = 4, .num_workers = 1});
  std::vector<int64_t> read;
  for (auto& batch : loader)
    for (int64_t t : batch.target.to_vector<int64_t>()) read.push_back(t);
  CHECK(read == s.indices());
  const std::string msg = test::error_of([&] { dist::DistributedSampler(10, {.num_replicas = 2, .rank = 2}); });
  CHECK_THAT(msg, Catch::Contains("rank 2") && Catch::Contains("2 replicas"));
}
