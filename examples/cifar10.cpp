// Trains a CIFAR ResNet (ResNet-20 by default, --depth 6n+2) on CIFAR-10 with SGD + momentum,
// weight decay (not on BatchNorm parameters or biases), cosine LR and random crop/flip.
//
//   cifar10 --data ../shared/data --epochs 30 --depth 20
#include <cstdio>

#include <tessera/data/cifar10.h>
#include <tessera/tessera.h>

#include "common/classifier.h"
#include "common/models.h"

using namespace ts;

namespace {

int run(int argc, char** argv) {
  util::ArgParser args("cifar10", "Trains a CIFAR ResNet (ResNet-20 by default) on CIFAR-10.");
  args.add("depth", "ResNet depth, 6n+2 (20, 32, 44, 56, 110)", "20")
      .add("weight-decay", "L2 weight decay on conv and linear weights", "5e-4")
      .add_switch("no-augment", "train without random crop and flip");
  examples::add_common_flags(args, {/*epochs=*/30, /*batch_size=*/128, /*lr=*/0.1});
  if (!args.parse(argc, argv)) return 0;
  const auto o = examples::read_common_flags(args);
  const int64_t depth = args.get_int("depth", 8);
  const double wd = args.get_double("weight-decay");
  if (o.threads > 0) set_num_threads(o.threads);
  manual_seed(o.seed);

  auto train_set = std::make_shared<data::CIFAR10>(o.data, data::Cifar10Set::Train);
  auto test_set = std::make_shared<data::CIFAR10>(o.data, data::Cifar10Set::Test);
  // Per-channel mean and std of the CIFAR-10 training images.
  auto normalize = std::make_shared<data::Normalize>(std::vector<double>{0.4914, 0.4822, 0.4465},
                                                     std::vector<double>{0.2470, 0.2435, 0.2616});
  data::TransformPtr train_transform = normalize;
  if (!args.get_switch("no-augment")) {
    train_transform = std::make_shared<data::Compose>(std::vector<data::TransformPtr>{
        std::make_shared<data::RandomCrop>(32, 4), std::make_shared<data::RandomHorizontalFlip>(0.5), normalize});
  }

  examples::ClassifierSetup s;
  s.name = fmt::format("cifar10-resnet{}", depth);
  auto resnet = std::make_shared<examples::ResNet>(depth);
  s.model = resnet;
  s.model->to(o.device);  // initialized on the CPU (the same weights for a seed on every device), then moved
  // Weight decay on conv/linear weights only: BatchNorm scales/shifts and biases are 1-d.
  std::vector<Tensor> decay, no_decay;
  for (const auto& [name, p] : s.model->named_parameters()) (p.dim() > 1 ? decay : no_decay).push_back(p);
  std::vector<optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, optim::SGDOptions(o.lr).momentum(0.9).weight_decay(wd));
  groups.emplace_back(no_decay, optim::SGDOptions(o.lr).momentum(0.9).weight_decay(0.0));
  s.optimizer = std::make_unique<optim::SGD>(std::move(groups), optim::SGDOptions(o.lr).momentum(0.9));
  s.scheduler = std::make_unique<optim::CosineAnnealingLR>(*s.optimizer, o.epochs);
  data::DataLoaderOptions train_opts;
  train_opts.batch_size = o.batch_size;
  train_opts.shuffle = true;
  train_opts.drop_last = true;
  train_opts.num_workers = static_cast<int>(o.workers);
  train_opts.seed = o.seed;
  train_opts.pin_memory = o.device.is_cuda();  // batches collate into pinned memory, off the main thread
  train_opts.transform = train_transform;
  s.train = std::make_unique<data::DataLoader>(examples::shard_for_this_rank(train_set, o), train_opts);
  examples::use_data_parallel(s, o);
  examples::use_pipeline_parallel(s, o, *resnet);
  data::DataLoaderOptions test_opts;
  test_opts.batch_size = 500;
  test_opts.num_workers = static_cast<int>(o.workers);
  test_opts.pin_memory = o.device.is_cuda();
  test_opts.transform = normalize;
  s.test = std::make_unique<data::DataLoader>(examples::eval_shard_for_this_rank(test_set), test_opts);

  if (examples::is_leader())
    std::printf("%s: %lld parameters, %lld train / %lld test images, batch %lld, SGD lr %g wd %g, %d threads, "
                "device %s%s\n",
                s.name.c_str(), static_cast<long long>(s.model->num_parameters()),
                static_cast<long long>(train_set->size()), static_cast<long long>(test_set->size()),
                static_cast<long long>(o.batch_size), o.lr, wd, get_num_threads(), o.device.str().c_str(),
                o.device.is_cuda() && o.tf32 ? " (TF32)" : "");
  const double acc = examples::run_classifier_training(s, o);
  return examples::report_final_accuracy("cifar10", acc, o);
}

}  // namespace

int main(int argc, char** argv) { return ts::examples::trainer_main("cifar10", run, argc, argv); }
