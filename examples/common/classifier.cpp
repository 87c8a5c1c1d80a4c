#include "common/classifier.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <tessera/dist.h>
#include <tessera/tessera.h>
#include <tessera/train/checkpointing.h>
#include <tessera/util/metrics_log.h>
#include <tessera/util/progress.h>

namespace ts::examples {

void add_common_flags(util::ArgParser& args, const CommonDefaults& d) {
  args.add("data", "datasets root (holding mnist/, cifar10/) or the dataset's own folder (default: $TESSERA_DATA, "
                   "else ../shared/data)")
      .add("epochs", "passes over the training set", std::to_string(d.epochs))
      .add("batch-size", "samples per optimizer step", std::to_string(d.batch_size))
      .add("lr", "learning rate", fmt::format("{}", d.lr))
      .add("seed", "seed for initialization, shuffling, augmentation and dropout", "0")
      .add("threads", "CPU threads (default: TESSERA_NUM_THREADS, else all cores)")
      .add("workers", "data loader worker threads", "2")
      .add("save", "write a checkpoint to this file after every epoch (atomically)")
      .add("resume", "continue from this checkpoint (model, optimizer, schedule, RNG, epoch)")
      .add("log", "append per-epoch metrics to this CSV file")
      .add("plot", "write loss/accuracy curves to this SVG file (default: next to --log)")
      .add("train-limit", "use only the first N training samples per epoch (quick runs)", "0")
      .add("min-test-acc", "exit with status 3 if the final test accuracy (0..1) is below this")
      .add("dp", "data-parallel replicas under mpirun (--batch-size is per replica)", "1")
      .add("pp", "pipeline stages under mpirun (dp * pp = -np; models that can be cut)", "1")
      .add("micro-batches", "pipeline micro-batches per batch (with --pp)", "4");
  add_device_flags(args);
}

void add_device_flags(util::ArgParser& args) {
  args.add("device", "where to train: cpu, cuda or cuda:N (the model is initialized on the CPU, then moved)", "cpu")
      .add_switch("tf32", "let float32 matmuls and convolutions use TF32 tensor cores (CUDA only)");
}

Device select_device(const std::string& spec, bool tf32) {
  const Device device(spec);  // ts::Error for anything but cpu, cuda, cuda:N
  if (device.is_cuda()) {
    if (!cuda::is_available())
      throw Error(fmt::format("--device {}: CUDA is not available: {}", spec, cuda::unavailable_reason()));
    if (device.index >= cuda::device_count())
      throw Error(fmt::format("--device {}: there is no CUDA device {} ({} visible)", spec, device.index,
                              cuda::device_count()));
    cuda::set_allow_tf32(tf32);
  } else if (tf32) {
    std::fprintf(stderr, "note: --tf32 only affects CUDA devices; it is ignored on the CPU\n");
  }
  return device;
}

Tensor to_device(const Tensor& t, Device device) {
  if (t.device() == device) return t;
  if (device.is_cuda() && t.is_cpu()) return cuda::pin_memory(t).to(device, /*non_blocking=*/true);
  return t.to(device);
}

CommonOptions read_common_flags(const util::ArgParser& a) {
  CommonOptions o;
  if (a.has("data")) {
    o.data = a.get("data");
  } else if (const char* env = std::getenv("TESSERA_DATA"); env && *env) {
    o.data = env;
  } else {
    o.data = "../shared/data";
  }
  o.epochs = a.get_int("epochs", 1);
  o.batch_size = a.get_int("batch-size", 1);
  o.lr = a.get_double("lr");
  TS_CHECK(o.lr > 0, "--lr must be positive, got {}", o.lr);
  o.seed = static_cast<uint64_t>(a.get_int("seed", 0));
  o.threads = a.has("threads") ? static_cast<int>(a.get_int("threads", 1)) : 0;
  o.workers = a.get_int("workers", 0);
  o.train_limit = a.get_int("train-limit", 0);
  if (a.has("save")) o.save = a.get("save");
  if (a.has("resume")) o.resume = a.get("resume");
  if (a.has("log")) o.log = a.get("log");
  if (a.has("plot")) {
    o.plot = a.get("plot");
  } else if (!o.log.empty()) {
    o.plot = std::filesystem::path(o.log).replace_extension(".svg").string();
  }
  if (a.has("min-test-acc")) o.min_test_acc = a.get_double("min-test-acc");
  o.dp = static_cast<int>(a.get_int("dp", 1));
  o.pp = static_cast<int>(a.get_int("pp", 1));
  o.micro_batches = a.get_int("micro-batches", 1);
  o.tf32 = a.get_switch("tf32");
  if (!Device(a.get("device")).is_cpu() && (o.dp > 1 || o.pp > 1 || dist::world_size() > 1))
    throw Error(fmt::format("--device {}: data- and pipeline-parallel training (--dp, --pp, mpirun) runs on the CPU "
                            "only; train on one GPU without them, or drop --device",
                            a.get("device")));
  TS_CHECK(o.dp * o.pp == dist::world_size(),
           "--dp {} x --pp {} must equal the number of processes ({}; launch with mpirun -np {})", o.dp, o.pp,
           dist::world_size(), o.dp * o.pp);
  o.device = select_device(a.get("device"), o.tf32);
  return o;
}

std::shared_ptr<const data::Dataset> shard_for_this_rank(std::shared_ptr<const data::Dataset> train_set,
                                                         const CommonOptions& o) {
  if (o.dp <= 1) return train_set;
  dist::DistributedSamplerOptions opts;
  opts.num_replicas = o.dp;
  opts.rank = dist::rank() / o.pp;  // the dp coordinate (ranks are laid out (dp, pp))
  opts.shuffle = false;
  opts.drop_last = true;
  return dist::DistributedSampler(train_set->size(), opts).shard(std::move(train_set));
}

std::shared_ptr<const data::Dataset> eval_shard_for_this_rank(std::shared_ptr<const data::Dataset> test_set) {
  const int ranks = dist::world_size();
  if (ranks <= 1) return test_set;
  std::vector<int64_t> mine;
  for (int64_t i = dist::rank(); i < test_set->size(); i += ranks) mine.push_back(i);
  return std::make_shared<dist::SubsetDataset>(std::move(test_set), std::move(mine));
}

void use_data_parallel(ClassifierSetup& s, const CommonOptions& o) {
  if (o.dp > 1 && o.pp == 1) s.replica = std::make_shared<dist::DistributedDataParallel>(s.model);
}

void use_pipeline_parallel(ClassifierSetup& s, const CommonOptions& o, Pieced& pieces) {
  if (o.pp > 1) s.pipeline = std::make_unique<PipelineRunner>(pieces, dist::make_grid(o.dp, o.pp, 1), o.micro_batches);
}

bool is_leader() { return dist::rank() == 0; }

namespace {

// Only rank 0 talks (prints, logs, plots, saves); the others' progress bars draw here.
std::FILE* quiet_sink() {
  static std::FILE* sink = std::fopen("/dev/null", "w");
  return sink;
}

struct EpochResult {
  double loss = 0, accuracy = 0;
  int64_t samples = 0;
};

// Loss and correct-prediction count of one batch (the logits are (B, classes)).
std::pair<double, int64_t> batch_stats(const Tensor& logits, const Tensor& loss, const Tensor& target) {
  const int64_t correct = sum(eq(argmax(logits, 1), target)).item<int64_t>();
  return {loss.item<double>(), correct};
}

EpochResult train_one_epoch(ClassifierSetup& s, Device device, int64_t epoch, int64_t epochs, int64_t max_batches,
                            int64_t& step) {
  s.model->train();
  s.train->set_epoch(static_cast<uint64_t>(epoch));
  const int64_t batches = max_batches > 0 ? std::min(max_batches, s.train->size()) : s.train->size();
  util::ProgressBar bar(fmt::format("epoch {}/{}", epoch + 1, epochs), batches, "samples",
                        is_leader() ? stdout : quiet_sink());
  EpochResult r;
  double loss_sum = 0;
  int64_t correct = 0, done = 0;
  for (auto& batch : *s.train) {
    if (done == batches) break;
    s.optimizer->zero_grad();
    std::pair<double, int64_t> stats;
    Tensor loss_value, correct_count;
    if (s.pipeline) {
      stats = s.pipeline->train_step(batch.data, batch.target);
    } else {
      const Tensor x = to_device(batch.data, device), y = to_device(batch.target, device);
      Tensor logits = (s.replica ? s.replica : s.model)->forward(x);
      Tensor loss = cross_entropy(logits, y);
      loss.backward();
      loss_value = loss.detach();
      correct_count = sum(eq(argmax(logits.detach(), 1), y));
    }
    s.optimizer->step();
    // Read the metrics (item() waits for the device) only once the whole step is queued.
    if (!s.pipeline) stats = {loss_value.item<double>(), correct_count.item<int64_t>()};
    ++step;
    ++done;
    const auto [l, c] = stats;
    loss_sum += l * static_cast<double>(batch.size());
    correct += c;
    r.samples += batch.size();
    bar.update(done, batch.size(),
               {{"loss", loss_sum / static_cast<double>(r.samples)},
                {"acc", static_cast<double>(correct) / static_cast<double>(r.samples)}});
  }
  bar.finish();
  r.loss = loss_sum / static_cast<double>(std::max<int64_t>(r.samples, 1));
  r.accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(r.samples, 1));
  return r;
}

EpochResult evaluate(ClassifierSetup& s, Device device) {
  s.model->eval();
  NoGradGuard no_grad;
  s.test->set_epoch(0);
  EpochResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  for (auto& batch : *s.test) {
    const Tensor x = to_device(batch.data, device), y = to_device(batch.target, device);
    Tensor logits = s.model->forward(x);
    const auto [l, c] = batch_stats(logits, cross_entropy(logits, y), y);
    loss_sum += l * static_cast<double>(batch.size());
    correct += c;
    r.samples += batch.size();
  }
  if (dist::world_size() > 1) {
    // Each rank evaluated its own slice of the test set (eval_shard_for_this_rank).
    Tensor totals = tensor(std::vector<double>{loss_sum, static_cast<double>(correct), static_cast<double>(r.samples)},
                           {3}, kFloat64);
    dist::world()->all_reduce(totals, dist::ReduceOp::Sum);
    const auto t = totals.to_vector<double>();
    loss_sum = t[0];
    correct = static_cast<int64_t>(t[1]);
    r.samples = static_cast<int64_t>(t[2]);
  }
  r.loss = loss_sum / static_cast<double>(std::max<int64_t>(r.samples, 1));
  r.accuracy = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(r.samples, 1));
  return r;
}

void write_plot(const std::string& path, const std::string& title, const std::map<std::string, std::vector<double>>& c) {
  const auto& x = c.at("epoch");
  util::write_svg_plot(path, title,
                       {{"loss", {{"train", x, c.at("train_loss")}, {"test", x, c.at("test_loss")}}},
                        {"accuracy", {{"train", x, c.at("train_acc")}, {"test", x, c.at("test_acc")}}}});
}

}  // namespace

double run_classifier_training(ClassifierSetup& s, const CommonOptions& o) {
  train::TrainingPosition pos;
  if (!o.resume.empty()) {
    const auto loaded = train::load_training_checkpoint(o.resume, *s.model, *s.optimizer, s.scheduler.get());
    auto it = loaded.metadata.find("model");
    TS_CHECK(it != loaded.metadata.end() && it->second == s.name,
             "--resume: {} holds a '{}' checkpoint, but this run trains '{}'", o.resume,
             it == loaded.metadata.end() ? "?" : it->second, s.name);
    pos = loaded.position;
    if (is_leader())
      std::printf("resumed from %s: %lld epochs done, %lld steps\n", o.resume.c_str(),
                static_cast<long long>(pos.epoch), static_cast<long long>(pos.step));
  }
  const std::vector<std::string> columns = {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"};
  util::MetricsLog log(columns, is_leader() ? o.log : std::string(), /*append=*/!o.resume.empty());
  const int64_t max_batches = o.train_limit > 0 ? (o.train_limit + o.batch_size - 1) / o.batch_size : 0;
  double test_acc = 0;
  for (int64_t epoch = pos.epoch; epoch < o.epochs; ++epoch) {
    const double lr = s.optimizer->param_groups().front().options().get_lr();
    const auto epoch_start = std::chrono::steady_clock::now();
    const EpochResult tr = train_one_epoch(s, o.device, epoch, o.epochs, max_batches, pos.step);
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    if (s.pipeline) s.pipeline->gather_model();  // evaluate and save the whole model
    const EpochResult te = evaluate(s, o.device);
    test_acc = te.accuracy;
    if (s.scheduler) s.scheduler->step();
    pos.epoch = epoch + 1;
    if (!is_leader()) continue;
    std::printf("epoch %lld/%lld: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% (%lld images) | %.1f s, %.0f "
                "samples/s | lr %.4g\n",
                static_cast<long long>(epoch + 1), static_cast<long long>(o.epochs), tr.loss, 100 * tr.accuracy, te.loss,
                100 * te.accuracy, static_cast<long long>(te.samples), train_seconds,
                static_cast<double>(tr.samples) / train_seconds, lr);
    std::fflush(stdout);
    log.log({{"epoch", static_cast<double>(epoch + 1)}, {"train_loss", tr.loss}, {"train_acc", tr.accuracy},
             {"test_loss", te.loss}, {"test_acc", te.accuracy}, {"lr", lr}, {"seconds", train_seconds}});
    if (!o.save.empty()) train::save_training_checkpoint(o.save, *s.model, *s.optimizer, s.scheduler.get(), pos, {{"model", s.name}});
    if (!o.plot.empty()) {
      std::map<std::string, std::vector<double>> cols;
      if (!o.log.empty()) {
        cols = util::read_metrics_csv(o.log);
      } else {
        for (const auto& c : columns) cols[c] = log.series(c);
      }
      write_plot(o.plot, s.name, cols);
    }
  }
  // A resumed run that had already finished: evaluate once.
  if (pos.epoch >= o.epochs && o.epochs > 0 && test_acc == 0) test_acc = evaluate(s, o.device).accuracy;
  return test_acc;
}

int report_final_accuracy(const char* program, double accuracy, const CommonOptions& o) {
  if (is_leader()) std::printf("final test accuracy: %.2f%%\n", 100 * accuracy);
  if (o.min_test_acc >= 0 && accuracy < o.min_test_acc) {
    std::fprintf(stderr, "%s: test accuracy %.4f is below --min-test-acc %.4f\n", program, accuracy, o.min_test_acc);
    return 3;
  }
  return 0;
}

int trainer_main(const char* program, int (*run)(int, char**), int argc, char** argv) {
  if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr) {
    return dist::run(run, argc, argv);
  }
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace ts::examples
