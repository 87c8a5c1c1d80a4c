#pragma once
/// Checkpoints: a StateDict (module parameters and buffers, optimizer state, ...) plus string
/// metadata (trainer step, epoch, RNG state, ...) in one safetensors file, readable by
/// Python's `safetensors` and PyTorch (see tessera/io/safetensors.h for the layout).
///
/// save() is atomic: it writes `<path>.tmp.<pid>`, fsyncs it, renames it over `path` and
/// fsyncs the directory, so a crash or error mid-save leaves the previous file at `path`
/// intact and no temporary file behind (unless the process itself dies mid-write).
/// load() validates the whole layout against the file's size before allocating anything;
/// a truncated or corrupt file raises a ts::Error naming the file and the problem.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "tessera/state_dict.h"

namespace ts {

struct Checkpoint {
  StateDict tensors;                            ///< in the order of the file's header
  std::map<std::string, std::string> metadata;  ///< the header's "__metadata__"
};

/// Writes `state` (tensors on any device, any strides; stored contiguous, detached) and
/// `metadata` to `path`, replacing any existing file atomically.
void save(const StateDict& state, const std::string& path, const std::map<std::string, std::string>& metadata = {});

/// Reads a safetensors file; tensors come back as contiguous CPU tensors.
Checkpoint load(const std::string& path);

namespace io::testing {
/// Test hook: makes the next save() fail with a ts::Error after writing `bytes` bytes of its
/// temporary file, as a crash or a full disk would; std::nullopt disarms it.
void fail_next_save_after(std::optional<uint64_t> bytes);
}  // namespace io::testing

}  // namespace ts
