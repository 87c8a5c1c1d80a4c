#include "gpt/gpt_model_config.h"

#include <fmt/format.h>

namespace ts::examples::gpt {

void add_model_flags(util::ArgParser& args) {
  args.add("n-layer", "Transformer blocks", "4")
      .add("n-head", "attention heads", "4")
      .add("n-embd", "embedding width", "128")
      .add("block-size", "context length in tokens", "128")
      .add("dropout", "dropout probability", "0")
      .add_switch("no-bias", "no biases in Linear and LayerNorm layers")
      .add_switch("llama", "LLaMA-style blocks: RMSNorm, SwiGLU MLP, rotary positions, no biases");
}

nn::GPTConfig model_config_from_flags(const util::ArgParser& args, int64_t vocab_size) {
  nn::GPTConfig c;
  c.vocab_size = vocab_size;
  c.n_layer = args.get_int("n-layer", 1);
  c.n_head = args.get_int("n-head", 1);
  c.n_embd = args.get_int("n-embd", 1);
  c.block_size = args.get_int("block-size", 1);
  c.dropout = args.get_double("dropout");
  c.bias = !args.get_switch("no-bias");
  if (args.get_switch("llama")) {
    c.norm = nn::NormKind::RMSNorm;
    c.mlp = nn::MlpKind::SwiGLU;
    // LLaMA keeps the MLP's parameter count of a 4C GELU MLP: hidden = 2/3 * 4C, rounded to 8.
    c.mlp_hidden = (8 * c.n_embd / 3 + 7) / 8 * 8;
    c.rotary = true;
    c.bias = false;
  }
  c.validate("gpt");
  return c;
}

std::map<std::string, std::string> model_config_metadata(const nn::GPTConfig& c) {
  return {{"model.vocab_size", std::to_string(c.vocab_size)},
          {"model.n_layer", std::to_string(c.n_layer)},
          {"model.n_head", std::to_string(c.n_head)},
          {"model.n_embd", std::to_string(c.n_embd)},
          {"model.block_size", std::to_string(c.block_size)},
          {"model.dropout", fmt::format("{}", c.dropout)},
          {"model.bias", c.bias ? "1" : "0"},
          {"model.rms_norm", c.norm == nn::NormKind::RMSNorm ? "1" : "0"},
          {"model.swiglu", c.mlp == nn::MlpKind::SwiGLU ? "1" : "0"},
          {"model.mlp_hidden", std::to_string(c.mlp_hidden)},
          {"model.rotary", c.rotary ? "1" : "0"}};
}

nn::GPTConfig model_config_from_metadata(const std::map<std::string, std::string>& m, const std::string& file) {
  auto get = [&](const std::string& key) -> const std::string& {
    auto it = m.find("model." + key);
    TS_CHECK(it != m.end(), "{}: not a GPT trainer checkpoint: no 'model.{}' in its metadata", file, key);
    return it->second;
  };
  auto as_int = [&](const std::string& key) {
    try {
      return std::stoll(get(key));
    } catch (const std::logic_error&) {
      TS_ERROR("{}: metadata 'model.{}' = '{}' is not an integer", file, key, get(key));
    }
  };
  nn::GPTConfig c;
  c.vocab_size = as_int("vocab_size");
  c.n_layer = as_int("n_layer");
  c.n_head = as_int("n_head");
  c.n_embd = as_int("n_embd");
  c.block_size = as_int("block_size");
  c.dropout = std::stod(get("dropout"));
  c.bias = get("bias") == "1";
  c.norm = get("rms_norm") == "1" ? nn::NormKind::RMSNorm : nn::NormKind::LayerNorm;
  c.mlp = get("swiglu") == "1" ? nn::MlpKind::SwiGLU : nn::MlpKind::Gelu;
  c.mlp_hidden = as_int("mlp_hidden");
  c.rotary = get("rotary") == "1";
  c.validate(file.c_str());
  return c;
}

}  // namespace ts::examples::gpt
