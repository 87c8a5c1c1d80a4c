// gpt sample: loads a trainer checkpoint (model, configuration and tokenizer in one file) and
// generates text from a prompt with temperature / top-k / top-p sampling and a KV cache.
#include <chrono>
#include <cstdio>

#include <tessera/tessera.h>
#include <tessera/util/cli.h>

#include "common/classifier.h"
#include "gpt/gpt_commands.h"
#include "gpt/gpt_model_config.h"
#include "gpt/gpt_text.h"

namespace ts::examples::gpt {

int sample_command(int argc, char** argv) {
  util::ArgParser args("gpt sample", "Generates text from a checkpoint written by `gpt --save`.");
  args.add("checkpoint", "checkpoint file written by gpt --save")
      .add("prompt", "text to continue", "\n")
      .add("max-new-tokens", "tokens to generate", "500")
      .add("temperature", "sampling temperature (0: greedy)", "0.8")
      .add("top-k", "sample from the k most likely tokens (0: all)", "0")
      .add("top-p", "nucleus sampling probability mass", "0.95")
      .add("seed", "random seed", "1337")
      .add("threads", "CPU threads", "2")
      .add_switch("no-kv-cache", "recompute the whole context for every token (slow; for comparison)");
  add_device_flags(args);
  if (!args.parse(argc, argv)) return 0;
  TS_CHECK(args.has("checkpoint"), "gpt sample: --checkpoint FILE is required");
  const Device device = select_device(args.get("device"), args.get_switch("tf32"));
  set_num_threads(static_cast<int>(args.get_int("threads", 1)));
  const std::string path = args.get("checkpoint");
  const Checkpoint ckpt = load(path);
  nn::GPT model(model_config_from_metadata(ckpt.metadata, path));
  StateDict weights;
  for (const auto& [key, t] : ckpt.tensors)
    if (key.starts_with("model.")) weights.insert(key.substr(6), t);
  model.load_state_dict(weights);
  model.to(device);  // generate() feeds the model on its device and samples on the CPU
  const Tokenizer tokenizer = Tokenizer::from_metadata(ckpt.metadata, path);

  const auto prompt_ids = tokenizer.encode(args.get("prompt"));
  TS_CHECK(!prompt_ids.empty(), "gpt sample: the prompt must not be empty");
  const Tensor prompt = tensor(std::vector<int64_t>(prompt_ids.begin(), prompt_ids.end()),
                               {1, static_cast<int64_t>(prompt_ids.size())}, kInt64);
  nn::SamplingOptions opts;
  opts.temperature = args.get_double("temperature");
  opts.top_k = args.get_int("top-k", 0);
  opts.top_p = args.get_double("top-p");
  opts.seed = static_cast<uint64_t>(args.get_int("seed", 0));
  std::fputs(args.get("prompt").c_str(), stdout);
  // Stream each token as it is sampled (BPE tokens may split a UTF-8 character: the decoder
  // emits bytes, which the terminal joins).
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t n = args.get_int("max-new-tokens", 0);
  nn::generate(model, prompt, n, opts, !args.get_switch("no-kv-cache"),
               [&](int64_t, const std::vector<int64_t>& next) {
                 const std::string piece = tokenizer.decode({static_cast<int32_t>(next[0])});
                 std::fwrite(piece.data(), 1, piece.size(), stdout);
                 std::fflush(stdout);
               });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "\n[%lld tokens in %.2f s: %.1f tokens/s]\n", static_cast<long long>(n), s,
               static_cast<double>(n) / s);
  return 0;
}

}  // namespace ts::examples::gpt
