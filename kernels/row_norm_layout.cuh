#pragma once
// The launch layout shared by the row-normalization kernels (layer_norm in norm.cu, rms_norm in
// rms_norm.cu): rows of up to kMaxWarpRow elements get one warp each, longer rows one
// kRowBlock-thread block; the weight/bias gradients are column sums over all rows, computed by
// 32 x kColRows blocks that each own 32 columns of a range of rows (a "split") and write double
// partial sums, which a second kernel adds up in split order, so results are deterministic.
#include <cstdint>

namespace ts::kernels::row_norm {

constexpr int kWarp = 32;
constexpr int64_t kMaxWarpRow = 1024;
constexpr int kRowBlock = 512;           // threads per row when a row is longer than kMaxWarpRow
constexpr int kColRows = 8;              // thread rows of the 32 x kColRows column-sum blocks
constexpr int64_t kTargetBlocks = 1024;  // enough blocks to fill an H100 (132 SMs) a few times
constexpr int64_t kMinRowsPerSplit = 64;

__host__ __device__ __forceinline__ int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

struct ColumnPlan {
  int64_t tiles, splits;
};

// 32-column tiles across, and enough row splits to give about kTargetBlocks blocks (each split
// at least kMinRowsPerSplit rows; gridDim.y at most 65535).
inline ColumnPlan column_plan(int64_t rows, int64_t d) {
  const int64_t tiles = ceil_div(d, kWarp);
  const int64_t want = tiles > 0 ? ceil_div(kTargetBlocks, tiles) : 1;
  const int64_t by_size = ceil_div(rows, kMinRowsPerSplit);
  return {tiles, clamp64(want < by_size ? want : by_size, 1, 65535)};
}

}  // namespace ts::kernels::row_norm
