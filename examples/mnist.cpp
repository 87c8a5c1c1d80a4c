// Trains an MLP or a small CNN on MNIST (60,000 training / 10,000 test images).
//
//   mnist --data ../shared/data --model cnn --epochs 3
//
// Expected: CNN >= 98.5% and MLP >= 97.5% test accuracy (see README for measured results).
#include <cstdio>
#include <filesystem>

#include <tessera/data/mnist_dataset.h>
#include <tessera/tessera.h>

#include "common/classifier.h"
#include "common/models.h"

using namespace ts;

namespace {

// The dataset's own folder, or a datasets root holding mnist/.
std::string mnist_dir(const std::string& data) {
  return std::filesystem::exists(std::filesystem::path(data) / "mnist") ? (std::filesystem::path(data) / "mnist").string()
                                                                        : data;
}

int run(int argc, char** argv) {
  util::ArgParser args("mnist", "Trains an MLP (784-512-256-10) or a CNN (conv32-conv64-fc128) on MNIST.");
  args.add("model", "mlp or cnn", "cnn").add("optimizer", "sgd (momentum 0.9) or adamw", "sgd");
  examples::add_common_flags(args, {/*epochs=*/3, /*batch_size=*/64, /*lr=*/0.05});
  if (!args.parse(argc, argv)) return 0;
  const auto o = examples::read_common_flags(args);
  const std::string model_name = args.get("model"), opt_name = args.get("optimizer");
  TS_CHECK(model_name == "mlp" || model_name == "cnn", "mnist: --model must be mlp or cnn, got '{}'", model_name);
  TS_CHECK(opt_name == "sgd" || opt_name == "adamw", "mnist: --optimizer must be sgd or adamw, got '{}'", opt_name);
  if (o.threads > 0) set_num_threads(o.threads);
  manual_seed(o.seed);

  const std::string dir = mnist_dir(o.data);
  auto train_set = std::make_shared<data::MNIST>(dir, data::MnistSet::Train);
  auto test_set = std::make_shared<data::MNIST>(dir, data::MnistSet::Test);
  // Mean and std of the MNIST training pixels (the usual normalization).
  auto normalize = std::make_shared<data::Normalize>(std::vector<double>{0.1307}, std::vector<double>{0.3081});

  examples::ClassifierSetup s;
  s.name = "mnist-" + model_name;
  s.model = model_name == "cnn" ? std::static_pointer_cast<nn::UnaryModule>(examples::make_mnist_cnn())
                                : std::static_pointer_cast<nn::UnaryModule>(examples::make_mnist_mlp());
  s.model->to(o.device);  // initialized on the CPU (the same weights for a seed on every device), then moved
  if (opt_name == "sgd") {
    s.optimizer = std::make_unique<optim::SGD>(s.model->parameters(), optim::SGDOptions(o.lr).momentum(0.9));
  } else {
    s.optimizer = std::make_unique<optim::AdamW>(s.model->parameters(), optim::AdamWOptions(o.lr));
  }
  s.scheduler = std::make_unique<optim::CosineAnnealingLR>(*s.optimizer, o.epochs);
  data::DataLoaderOptions train_opts;
  train_opts.batch_size = o.batch_size;
  train_opts.shuffle = true;
  train_opts.num_workers = static_cast<int>(o.workers);
  train_opts.seed = o.seed;
  train_opts.pin_memory = o.device.is_cuda();  // batches collate into pinned memory, off the main thread
  train_opts.transform = normalize;
  s.train = std::make_unique<data::DataLoader>(examples::shard_for_this_rank(train_set, o), train_opts);
  examples::use_data_parallel(s, o);
  TS_CHECK(o.pp == 1, "mnist: --pp is not supported for the MNIST models (cifar10 has it)");
  data::DataLoaderOptions test_opts = train_opts;
  test_opts.batch_size = 1000;
  test_opts.shuffle = false;
  s.test = std::make_unique<data::DataLoader>(examples::eval_shard_for_this_rank(test_set), test_opts);

  if (examples::is_leader())
    std::printf("%s: %lld parameters, %lld train / %lld test images, batch %lld, %s lr %g, %d threads, device %s%s\n",
                s.name.c_str(), static_cast<long long>(s.model->num_parameters()),
                static_cast<long long>(train_set->size()), static_cast<long long>(test_set->size()),
                static_cast<long long>(o.batch_size), opt_name.c_str(), o.lr, get_num_threads(), o.device.str().c_str(),
                o.device.is_cuda() && o.tf32 ? " (TF32)" : "");
  const double acc = examples::run_classifier_training(s, o);
  return examples::report_final_accuracy("mnist", acc, o);
}

}  // namespace

int main(int argc, char** argv) { return ts::examples::trainer_main("mnist", run, argc, argv); }
