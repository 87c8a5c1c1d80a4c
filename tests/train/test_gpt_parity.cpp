// Loss parity with PyTorch: the same GPT, the same initial weights (exported from PyTorch as
// safetensors and read by ts::load) and the same batches, trained for 20 AdamW steps with
// weight-decay groups, warmup + cosine, clipping and 2 accumulated micro-batches per step.
// tests/golden/gen_gpt_parity.py generates the reference (PyTorch 1.13).
#include <cmath>
#include <filesystem>

#include "test_util.h"

using namespace ts;
namespace fs = std::filesystem;

namespace {

int64_t meta_int(const Checkpoint& c, const std::string& key) { return std::stoll(c.metadata.at(key)); }
double meta_double(const Checkpoint& c, const std::string& key) { return std::stod(c.metadata.at(key)); }

// Entries "<prefix>.<name>" as a state dict keyed by <name>.
StateDict with_prefix(const StateDict& all, const std::string& prefix) {
  StateDict out;
  for (const auto& [key, t] : all)
    if (key.starts_with(prefix)) out.insert(key.substr(prefix.size()), t);
  return out;
}

}  // namespace

TEST_CASE("GPT training matches PyTorch step by step for 20 AdamW steps", "[train][gpt][golden]") {
  const Checkpoint ref = load((fs::path(__FILE__).parent_path().parent_path() / "golden" / "gpt_parity.safetensors").string());
  nn::GPTConfig config;
  config.vocab_size = meta_int(ref, "vocab_size");
  config.n_layer = meta_int(ref, "n_layer");
  config.n_head = meta_int(ref, "n_head");
  config.n_embd = meta_int(ref, "n_embd");
  config.block_size = meta_int(ref, "block_size");
  nn::GPT model(config);
  model.load_state_dict(with_prefix(ref.tensors, "init."));  // strict: every name must match PyTorch's

  auto [decay, no_decay] = model.weight_decay_groups();
  const auto adamw = optim::AdamWOptions(meta_double(ref, "lr"))
                         .betas({meta_double(ref, "beta1"), meta_double(ref, "beta2")})
                         .weight_decay(meta_double(ref, "weight_decay"));
  optim::AdamW opt({optim::OptimizerParamGroup(decay, adamw),
                    optim::OptimizerParamGroup(no_decay, optim::AdamWOptions(adamw).weight_decay(0.0))},
                   adamw);
  const int64_t steps = meta_int(ref, "steps"), micro = meta_int(ref, "micro");
  optim::LinearWarmupCosine sched(opt, meta_int(ref, "warmup"), steps, meta_double(ref, "min_lr"),
                                  meta_double(ref, "warmup_start"));

  const Tensor& batches = ref.tensors.at("batches");
  const auto losses = ref.tensors.at("losses").to_vector<double>();
  const auto lrs = ref.tensors.at("lrs").to_vector<double>();
  const auto norms = ref.tensors.at("grad_norms").to_vector<double>();
  const int64_t T = config.block_size;
  double worst = 0;
  for (int64_t step = 0; step < steps; ++step) {
    opt.zero_grad();
    for (int64_t m = 0; m < micro; ++m) {
      const Tensor window = batches.select(0, step).select(0, m);
      const Tensor loss = model.loss(window.narrow(1, 0, T), window.narrow(1, 1, T));
      const double expected = losses[static_cast<size_t>(step * micro + m)];
      const double rel = std::abs(loss.item<double>() - expected) / std::abs(expected);
      worst = std::max(worst, rel);
      INFO("step " << step << " micro-batch " << m << ": Tessera " << loss.item<double>() << ", PyTorch " << expected);
      REQUIRE(rel <= 1e-4);
      (loss / static_cast<double>(micro)).backward();
    }
    const double norm = optim::clip_grad_norm_(model.parameters(), meta_double(ref, "clip"));
    REQUIRE(norm == Approx(norms[static_cast<size_t>(step)]).epsilon(1e-4));
    REQUIRE(opt.param_groups()[0].options().get_lr() == Approx(lrs[static_cast<size_t>(step)]).epsilon(1e-12));
    opt.step();
    sched.step();
  }
  WARN("worst relative loss difference over " << steps << " steps: " << worst);
  for (const auto& [name, expected] : with_prefix(ref.tensors, "final.")) {
    INFO("parameter " << name);
    test::require_close(model.state_dict().at(name), expected, 1e-3, 2e-5);
  }
}
