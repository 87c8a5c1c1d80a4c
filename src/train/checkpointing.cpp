#include "tessera/train/checkpointing.h"

#include "tessera/creation.h"
#include "tessera/io/checkpoint.h"

namespace ts::train {
namespace {

constexpr const char* kFormat = "tessera-training-checkpoint-v1";

void add_prefixed(StateDict& out, const std::string& prefix, const StateDict& in) {
  for (const auto& [key, value] : in) out.insert(prefix + key, value);
}

// The entries of `all` under `prefix`, with the prefix removed.
StateDict take_prefixed(const StateDict& all, const std::string& prefix) {
  StateDict out;
  for (const auto& [key, value] : all)
    if (key.rfind(prefix, 0) == 0) out.insert(key.substr(prefix.size()), value);
  return out;
}

uint64_t parse_u64(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& path) {
  auto it = meta.find(key);
  TS_CHECK(it != meta.end(), "load_training_checkpoint: {} has no '{}' in its metadata (not a training checkpoint?)",
           path, key);
  const std::string& text = it->second;
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos && text.size() <= 20) {
    try {
      return std::stoull(text);
    } catch (const std::exception&) {
    }
  }
  TS_ERROR("load_training_checkpoint: {} has a malformed '{}' = '{}'", path, key, text);
}

}  // namespace

void save_training_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& optimizer,
                              const optim::LRScheduler* scheduler, TrainingPosition position,
                              const std::map<std::string, std::string>& extra) {
  StateDict all;
  add_prefixed(all, "model.", model.state_dict());
  add_prefixed(all, "optim.", optimizer.state_dict());
  if (scheduler) add_prefixed(all, "sched.", scheduler->state_dict());
  std::map<std::string, std::string> meta = extra;
  const auto [seed, offset] = get_rng_state();
  meta["format"] = kFormat;
  meta["epoch"] = std::to_string(position.epoch);
  meta["step"] = std::to_string(position.step);
  meta["rng_seed"] = std::to_string(seed);
  meta["rng_offset"] = std::to_string(offset);
  save(all, path, meta);
}

LoadedCheckpoint load_training_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& optimizer,
                                          optim::LRScheduler* scheduler) {
  Checkpoint ckpt = load(path);
  auto fmt_it = ckpt.metadata.find("format");
  TS_CHECK(fmt_it != ckpt.metadata.end() && fmt_it->second == kFormat,
           "load_training_checkpoint: {} is not a Tessera training checkpoint (metadata 'format' is '{}', expected "
           "'{}')",
           path, fmt_it == ckpt.metadata.end() ? "" : fmt_it->second, kFormat);
  LoadedCheckpoint out;
  out.position.epoch = static_cast<int64_t>(parse_u64(ckpt.metadata, "epoch", path));
  out.position.step = static_cast<int64_t>(parse_u64(ckpt.metadata, "step", path));
  const uint64_t seed = parse_u64(ckpt.metadata, "rng_seed", path);
  const uint64_t offset = parse_u64(ckpt.metadata, "rng_offset", path);
  model.load_state_dict(take_prefixed(ckpt.tensors, "model."), /*strict=*/true);
  optimizer.load_state_dict(take_prefixed(ckpt.tensors, "optim."));
  if (scheduler) scheduler->load_state_dict(take_prefixed(ckpt.tensors, "sched."));
  set_rng_state({seed, offset});
  out.metadata = std::move(ckpt.metadata);
  return out;
}

}  // namespace ts::train
