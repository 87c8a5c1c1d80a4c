// Resuming from a training checkpoint continues exactly like an uninterrupted run: after N
// steps both ways, every parameter is bitwise equal (model with dropout and BatchNorm,
// AdamW with a schedule, a shuffling DataLoader with worker threads).
#include <catch2/catch.hpp>

#include <filesystem>

#include <tessera/data/dataloader.h>
#include <tessera/io/checkpoint.h>
#include <tessera/nn.h>
#include <tessera/optim.h>
#include <tessera/tessera.h>
#include <tessera/train/checkpointing.h>

using namespace ts;

namespace {

struct Run {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<optim::AdamW> opt;
  std::unique_ptr<optim::StepLR> sched;
  std::unique_ptr<data::DataLoader> loader;
};

Run make_run(const std::shared_ptr<data::Dataset>& ds) {
  manual_seed(123);
  Run r;
  r.model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
      std::make_shared<nn::Linear>(6, 16), std::make_shared<nn::BatchNorm1d>(16), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Dropout>(0.3), std::make_shared<nn::Linear>(16, 3)});
  r.opt = std::make_unique<optim::AdamW>(r.model->parameters(), optim::AdamWOptions(1e-2));
  r.sched = std::make_unique<optim::StepLR>(*r.opt, 2, 0.5);
  data::DataLoaderOptions lo;
  lo.batch_size = 8;
  lo.shuffle = true;
  lo.num_workers = 2;
  lo.seed = 7;
  r.loader = std::make_unique<data::DataLoader>(ds, lo);
  return r;
}

// Trains epochs [from, to), stepping the scheduler once per epoch.
void train_epochs(Run& r, int64_t from, int64_t to) {
  r.model->train();
  for (int64_t e = from; e < to; ++e) {
    r.loader->set_epoch(static_cast<uint64_t>(e));
    for (auto& batch : *r.loader) {
      Tensor loss = cross_entropy(r.model->forward(batch.data), batch.target);
      r.opt->zero_grad();
      loss.backward();
      r.opt->step();
    }
    r.sched->step();
  }
}

}  // namespace

TEST_CASE("resuming from a checkpoint gives bitwise the same parameters as an uninterrupted run", "[train]") {
  manual_seed(1);
  auto ds = std::make_shared<data::TensorDataset>(randn({40, 6}), randint(0, 3, {40}));
  const auto path = (std::filesystem::temp_directory_path() / "tessera_resume_test.safetensors").string();

  Run straight = make_run(ds);
  train_epochs(straight, 0, 4);

  {
    Run first = make_run(ds);
    train_epochs(first, 0, 2);
    train::save_training_checkpoint(path, *first.model, *first.opt, first.sched.get(), {2, 10}, {{"model", "toy"}});
  }
  // A fresh run sits at the RNG state right after initialization; the checkpoint must move
  // it to where the first run stopped, or the dropout masks of epochs 3-4 would differ.
  Run resumed = make_run(ds);
  const auto loaded = train::load_training_checkpoint(path, *resumed.model, *resumed.opt, resumed.sched.get());
  REQUIRE(loaded.position.epoch == 2);
  REQUIRE(loaded.position.step == 10);
  REQUIRE(loaded.metadata.at("model") == "toy");
  train_epochs(resumed, 2, 4);

  const auto a = straight.model->state_dict(), b = resumed.model->state_dict();
  REQUIRE(a.size() == b.size());
  for (const auto& [name, t] : a) {
    INFO(name);
    REQUIRE(equal(t, b.at(name)));
  }
  REQUIRE(straight.opt->param_groups()[0].options().get_lr() == resumed.opt->param_groups()[0].options().get_lr());
  std::filesystem::remove(path);
}

TEST_CASE("loading a file that is not a training checkpoint is a clear error", "[train]") {
  const auto path = (std::filesystem::temp_directory_path() / "tessera_not_training.safetensors").string();
  StateDict sd;
  sd.insert("w", ones({2}));
  save(sd, path);
  auto ds = std::make_shared<data::TensorDataset>(randn({8, 6}), randint(0, 3, {8}));
  Run r = make_run(ds);
  REQUIRE_THROWS_WITH(train::load_training_checkpoint(path, *r.model, *r.opt, r.sched.get()),
                      Catch::Contains(path) && Catch::Contains("not a Tessera training checkpoint"));
  std::filesystem::remove(path);
}
