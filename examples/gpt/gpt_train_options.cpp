#include "gpt/gpt_train_options.h"

#include <utility>

#include "common/classifier.h"
#include "gpt/gpt_model_config.h"

namespace ts::examples::gpt {

void add_train_flags(util::ArgParser& args) {
  args.add("data", "datasets root (holding tinyshakespeare/input.txt)", "../shared/data")
      .add("cache", "directory for the tokenized train/val files", "gpt_cache")
      .add("tokenizer", "char or bpe", "char")
      .add("bpe-vocab", "vocabulary size of the BPE tokenizer", "512")
      .add("batch-size", "sequences per micro-batch", "32")
      .add("grad-accum", "micro-batches accumulated per optimizer step", "1")
      .add("max-iters", "optimizer steps", "3000")
      .add("lr", "peak learning rate", "2e-3")
      .add("min-lr", "final learning rate of the cosine decay", "2e-4")
      .add("warmup", "linear warmup steps", "100")
      .add("weight-decay", "AdamW weight decay of matrices and embeddings", "0.1")
      .add("beta2", "AdamW beta2", "0.99")
      .add("clip", "gradient-norm clipping (0: off)", "1.0")
      .add("eval-interval", "steps between validation-loss evaluations", "250")
      .add("eval-iters", "validation batches per evaluation", "20")
      .add("time-limit", "stop (evaluate, save) after this many minutes of training (0: none)", "0")
      .add("target-val-loss", "exit with status 3 unless the final validation loss is at most this (0: off)", "0")
      .add("sample-tokens", "tokens to generate at the end", "300")
      .add("seed", "random seed (initialization, batches, sampling)", "1337")
      .add("threads", "CPU threads", "2")
      .add("save", "checkpoint written at every evaluation")
      .add("resume", "checkpoint to continue from (its model configuration wins)")
      .add("log", "metrics CSV")
      .add("plot", "SVG plot of the train/validation loss")
      .add("dp", "data-parallel replicas (under mpirun; --batch-size is per replica)", "1")
      .add("pp", "pipeline stages (n_layer must divide)", "1")
      .add("tp", "tensor-parallel ranks per layer (n_head must divide)", "1")
      .add("micro-batches", "pipeline micro-batches per step (with --pp)", "1");
  add_model_flags(args);
  add_device_flags(args);
}

TrainOptions read_train_flags(const util::ArgParser& a) {
  TrainOptions o;
  o.batch = a.get_int("batch-size", 1);
  o.accum = a.get_int("grad-accum", 1);
  o.max_iters = a.get_int("max-iters", 1);
  o.warmup = a.get_int("warmup", 0);
  o.eval_interval = a.get_int("eval-interval", 1);
  o.eval_iters = a.get_int("eval-iters", 1);
  o.sample_tokens = a.get_int("sample-tokens", 0);
  o.lr = a.get_double("lr");
  o.min_lr = a.get_double("min-lr");
  o.weight_decay = a.get_double("weight-decay");
  o.beta2 = a.get_double("beta2");
  o.clip = a.get_double("clip");
  o.time_limit_s = a.get_double("time-limit") * 60.0;
  o.target_val_loss = a.get_double("target-val-loss");
  o.seed = static_cast<uint64_t>(a.get_int("seed", 0));
  o.dp = static_cast<int>(a.get_int("dp", 1));
  o.pp = static_cast<int>(a.get_int("pp", 1));
  o.tp = static_cast<int>(a.get_int("tp", 1));
  o.micro_batches = a.get_int("micro-batches", 1);
  o.device = a.get("device");
  o.tf32 = a.get_switch("tf32");
  for (auto [flag, field] : {std::pair{"save", &o.save}, {"resume", &o.resume}, {"log", &o.log}, {"plot", &o.plot}})
    if (a.has(flag)) *field = a.get(flag);
  return o;
}

}  // namespace ts::examples::gpt
