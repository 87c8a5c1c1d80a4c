#pragma once
/// The safetensors file layout (https://github.com/huggingface/safetensors), as used by
/// ts::save / ts::load:
///
///   [8 bytes: N, little-endian u64] [N bytes: JSON header] [data section]
///
/// The header maps each tensor name to {"dtype": "F32", "shape": [2, 3], "data_offsets":
/// [begin, end]} (byte offsets into the data section) and may hold "__metadata__", an object
/// of string -> string. Tensor data is raw, little-endian, row-major. Tessera's header is
/// padded with spaces to a multiple of 8 bytes, so the data section is 8-byte aligned, as
/// Python's writer does.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/dtype.h"
#include "tessera/shape.h"

namespace ts::io {

using Metadata = std::map<std::string, std::string>;

/// The header's dtype code of each Tessera dtype: "F32", "F64", "F16", "BF16", "I32", "I64",
/// "U8", "BOOL".
std::string_view safetensors_dtype(DType dtype);
/// The Tessera dtype of a header code; nullopt for codes Tessera has no dtype for.
std::optional<DType> dtype_from_safetensors(std::string_view code);

/// Where one tensor lives in the data section: bytes [begin, end).
struct TensorInfo {
  std::string name;
  DType dtype = kFloat32;
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  ///< in the order of the JSON text
  Metadata metadata;
};

/// Headers longer than this are rejected as corrupt (the limit of the reference implementation).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

/// The JSON header for `header` (tensors in the given order, "__metadata__" first when not
/// empty), padded with spaces to a multiple of 8 bytes. Names and metadata must be valid
/// UTF-8 and no tensor may be called "__metadata__"; `context` starts error messages.
std::string encode_header(const SafetensorsHeader& header, std::string_view context);

/// Parses and validates a header against a data section of `data_size` bytes: well-formed
/// JSON, an object of tensor entries with exactly dtype/shape/data_offsets, known dtypes,
/// string metadata, begin <= end, end - begin == numel * element size, and offsets that tile
/// the data section exactly (in order, no overlap, no gap, nothing after the last tensor).
/// Violations throw ts::Error starting with `context` (e.g. "load: 'model.safetensors'")
/// and naming the tensor and the problem.
SafetensorsHeader decode_header(std::string_view json, uint64_t data_size, std::string_view context);

}  // namespace ts::io
