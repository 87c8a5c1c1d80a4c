#pragma once
// The hash key of an adjacent token pair, shared by BPE training and encoding. Ordering keys
// orders pairs by (left, right), which is the training's tie-break.
#include <cstdint>

namespace ts::text::detail {

inline uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}
inline int32_t pair_left(uint64_t key) { return static_cast<int32_t>(key >> 32); }
inline int32_t pair_right(uint64_t key) { return static_cast<int32_t>(key & 0xffffffffu); }

}  // namespace ts::text::detail
