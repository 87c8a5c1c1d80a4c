#include "tessera/dist/process_groups.h"

#include "tessera/dist/runtime.h"

namespace ts::dist {

ParallelGrid make_grid(int dp, int pp, int tp, std::shared_ptr<Communicator> comm) {
  if (!comm) comm = world();
  TS_CHECK(dp >= 1 && pp >= 1 && tp >= 1, "make_grid: dp={}, pp={}, tp={} must all be >= 1", dp, pp, tp);
  TS_CHECK(static_cast<int64_t>(dp) * pp * tp == comm->size(),
           "make_grid: dp={} x pp={} x tp={} = {} processes, but the {} group has {}; launch with mpirun -np {} or "
           "change the sizes",
           dp, pp, tp, static_cast<int64_t>(dp) * pp * tp, comm->name(), comm->size(),
           static_cast<int64_t>(dp) * pp * tp);
  ParallelGrid g;
  g.dp = dp;
  g.pp = pp;
  g.tp = tp;
  const int r = comm->rank();
  g.tp_rank = r % tp;
  g.pp_rank = (r / tp) % pp;
  g.dp_rank = r / (tp * pp);
  g.world = comm;
  // Each split keys by the coordinate that varies inside the group, so group rank == coordinate.
  g.tp_group = comm->split(g.dp_rank * pp + g.pp_rank, g.tp_rank, fmt::format("tp[dp{},pp{}]", g.dp_rank, g.pp_rank));
  g.pp_group = comm->split(g.dp_rank * tp + g.tp_rank, g.pp_rank, fmt::format("pp[dp{},tp{}]", g.dp_rank, g.tp_rank));
  g.dp_group = comm->split(g.pp_rank * tp + g.tp_rank, g.dp_rank, fmt::format("dp[pp{},tp{}]", g.pp_rank, g.tp_rank));
  return g;
}

}  // namespace ts::dist
