// Communicator::split and the (dp, pp, tp) grid.
#include <algorithm>

#include "dist_test_util.h"

using namespace ts;

TEST_CASE("dist: split by color orders ranks by key", "[dist][groups]") {
  auto w = test::world();
  const int n = w->size(), r = w->rank();
  const int color = r % 2;
  auto sub = w->split(color, -r);  // reverse order inside each group
  REQUIRE(sub != nullptr);
  std::vector<int> members;
  for (int k = 0; k < n; ++k)
    if (k % 2 == color) members.push_back(k);
  CHECK(sub->size() == static_cast<int>(members.size()));
  // Highest world rank first.
  const int expected_rank = static_cast<int>(members.end() - std::find(members.begin(), members.end(), r)) - 1;
  CHECK(sub->rank() == expected_rank);
  CHECK(sub->name() == fmt::format("world.split({})", color));
  Tensor t = full({1}, r, TensorOptions(kInt64));
  sub->all_reduce(t);
  int64_t sum = 0;
  for (int k : members) sum += k;
  test::check_all(t, static_cast<double>(sum));
  // A negative color joins no group.
  auto none = w->split(r == 0 ? -1 : 0, 0, "rest");
  CHECK((none == nullptr) == (r == 0));
  if (none) CHECK(none->size() == n - 1);
}

TEST_CASE("dist: make_grid builds Megatron-ordered dp/pp/tp groups", "[dist][groups]") {
  auto w = test::world();
  const int n = w->size(), r = w->rank();
  for (int tp = 1; tp <= n; ++tp) {
    if (n % tp) continue;
    for (int pp = 1; pp * tp <= n; ++pp) {
      if ((n / tp) % pp) continue;
      const int dp = n / (tp * pp);
      INFO("dp=" << dp << " pp=" << pp << " tp=" << tp);
      dist::ParallelGrid g = dist::make_grid(dp, pp, tp);
      CHECK(g.rank_of(g.dp_rank, g.pp_rank, g.tp_rank) == r);
      CHECK(g.tp_rank == r % tp);
      CHECK(g.dp_group->size() == dp);
      CHECK(g.pp_group->size() == pp);
      CHECK(g.tp_group->size() == tp);
      CHECK(g.dp_group->rank() == g.dp_rank);
      CHECK(g.pp_group->rank() == g.pp_rank);
      CHECK(g.tp_group->rank() == g.tp_rank);
      // The world ranks in each group, through an all_gather of the world rank.
      auto members = [&](const std::shared_ptr<dist::Communicator>& c) {
        Tensor out = zeros({c->size()}, TensorOptions(kInt64));
        c->all_gather(full({1}, r, TensorOptions(kInt64)), out);
        return out.to_vector<int64_t>();
      };
      std::vector<int64_t> tp_expected, pp_expected, dp_expected;
      for (int k = 0; k < tp; ++k) tp_expected.push_back(g.rank_of(g.dp_rank, g.pp_rank, k));
      for (int k = 0; k < pp; ++k) pp_expected.push_back(g.rank_of(g.dp_rank, k, g.tp_rank));
      for (int k = 0; k < dp; ++k) dp_expected.push_back(g.rank_of(k, g.pp_rank, g.tp_rank));
      CHECK(members(g.tp_group) == tp_expected);
      CHECK(members(g.pp_group) == pp_expected);
      CHECK(members(g.dp_group) == dp_expected);
    }
  }
}

TEST_CASE("dist: make_grid rejects sizes that do not multiply to the world", "[dist][groups]") {
  const int n = test::world()->size();
  const std::string msg = test::error_of([&] { dist::make_grid(n, 2, 1); });
  CHECK_THAT(msg, Catch::Contains("make_grid") && Catch::Contains(fmt::format("= {} processes", 2 * n)) &&
                      Catch::Contains(fmt::format("has {}", n)));
}
