#pragma once
// The GPT trainer's model configuration: read from flags, and stored in / restored from
// checkpoint metadata so `gpt sample` and `--resume` rebuild the exact model.
#include <map>
#include <string>

#include <tessera/nn/gpt.h>
#include <tessera/util/cli.h>

namespace ts::examples::gpt {

/// --n-layer, --n-head, --n-embd, --block-size, --dropout, --no-bias, --llama.
void add_model_flags(util::ArgParser& args);
nn::GPTConfig model_config_from_flags(const util::ArgParser& args, int64_t vocab_size);

/// "model.<field>" entries, and the inverse (ts::Error naming a missing or bad entry).
std::map<std::string, std::string> model_config_metadata(const nn::GPTConfig& config);
nn::GPTConfig model_config_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& file);

}  // namespace ts::examples::gpt
