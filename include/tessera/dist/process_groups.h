#pragma once
/// Process groups for composing data, pipeline and tensor parallelism: the world is viewed as
/// a (dp, pp, tp) grid in Megatron order, tp varying fastest:
///
///   world rank = ((dp_rank * pp) + pp_rank) * tp + tp_rank
///
/// so the ranks of one tensor-parallel group are adjacent (same host first when mpirun fills
/// hosts in order), and each rank belongs to one group of each kind:
///   tp_group: the tp ranks with the same (dp_rank, pp_rank)   (tensor-parallel peers)
///   pp_group: the pp ranks with the same (dp_rank, tp_rank)   (pipeline stages, by pp_rank)
///   dp_group: the dp ranks with the same (pp_rank, tp_rank)   (data-parallel replicas)
/// The rank of this process inside each group is its coordinate (tp_group->rank() == tp_rank).
#include <memory>

#include "tessera/dist/communicator.h"

namespace ts::dist {

struct ParallelGrid {
  int dp = 1, pp = 1, tp = 1;
  int dp_rank = 0, pp_rank = 0, tp_rank = 0;
  std::shared_ptr<Communicator> world;  ///< the communicator the grid was made from
  std::shared_ptr<Communicator> dp_group;
  std::shared_ptr<Communicator> pp_group;
  std::shared_ptr<Communicator> tp_group;

  /// The rank in `world` of the process at grid coordinates (dp_rank, pp_rank, tp_rank).
  int rank_of(int dp_r, int pp_r, int tp_r) const { return (dp_r * pp + pp_r) * tp + tp_r; }
  bool is_first_stage() const { return pp_rank == 0; }
  bool is_last_stage() const { return pp_rank == pp - 1; }
};

/// Splits `world` (default: ts::dist::world()) into the grid. Collective over `world`;
/// dp * pp * tp must equal its size, otherwise a ts::Error says so.
ParallelGrid make_grid(int dp, int pp, int tp, std::shared_ptr<Communicator> world = nullptr);

}  // namespace ts::dist
