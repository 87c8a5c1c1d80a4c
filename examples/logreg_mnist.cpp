// Logistic regression (784 -> 10, softmax cross-entropy) on MNIST, trained with plain SGD
// through autograd. Expected: about 92% test accuracy after 5 epochs.
//
//   logreg_mnist --data ../shared/data [--epochs 5] [--batch-size 64] [--lr 0.1] [--seed 0]
//                [--threads N] [--log metrics.csv] [--device cuda] [--tf32]
#include <tessera/data/mnist.h>
#include <tessera/tessera.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string data;
  int64_t epochs = 5;
  int64_t batch_size = 64;
  double lr = 0.1;
  uint64_t seed = 0;
  int threads = 0;  // 0: Tessera's default (TESSERA_NUM_THREADS, else all cores)
  std::string log;
  int64_t train_limit = 0;     // 0: all 60,000 training images
  double min_test_acc = -1.0;  // exit status 3 when the final test accuracy is lower
  std::string device = "cpu";  // cpu, cuda or cuda:N
  bool tf32 = false;           // TF32 tensor cores for the float32 matmuls (CUDA)
};

const char* kUsage = R"(Usage: logreg_mnist [options]
Trains logistic regression (784 -> 10, softmax cross-entropy) on MNIST with plain SGD.

Options:
  --data DIR          folder holding the MNIST files, or a datasets root with mnist/
                      (default: $TESSERA_DATA, else ../shared/data)
  --epochs N          passes over the training set (default 5)
  --batch-size N      samples per SGD step (default 64)
  --lr X              learning rate (default 0.1)
  --seed N            seed for initialization and shuffling (default 0)
  --threads N         CPU threads (default: TESSERA_NUM_THREADS, else all cores)
  --log FILE          write per-epoch metrics as CSV to FILE
  --train-limit N     train on the first N images only (quick runs; default: all)
  --min-test-acc X    exit with status 3 if the final test accuracy (0..1) is below X
  --device D          where to train: cpu, cuda or cuda:N (default cpu); the weights are
                      initialized on the CPU and the data set is copied to the device once
  --tf32              let float32 matmuls use TF32 tensor cores (CUDA only)
  --help              show this help
)";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "logreg_mnist: %s\n\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

int64_t parse_int(const std::string& flag, const std::string& text, int64_t min) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    usage_error(flag + " expects an integer, got '" + text + "'");
  }
  if (used != text.size()) usage_error(flag + " expects an integer, got '" + text + "'");
  if (v < min) usage_error(flag + " must be at least " + std::to_string(min) + ", got " + text);
  return v;
}

double parse_double(const std::string& flag, const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    usage_error(flag + " expects a number, got '" + text + "'");
  }
  if (used != text.size() || !std::isfinite(v)) usage_error(flag + " expects a finite number, got '" + text + "'");
  return v;
}

Options parse_args(int argc, char** argv) {
  Options o;
  const char* env = std::getenv("TESSERA_DATA");
  o.data = env != nullptr && *env != '\0' ? env : "../shared/data";
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::optional<std::string> value;
    if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (flag == "--tf32") {
      if (value) usage_error("--tf32 takes no value");
      o.tf32 = true;
      continue;
    }
    if (!value) {
      if (i + 1 >= argc) usage_error(flag + " needs a value");
      value = argv[++i];
    }
    const std::string& v = *value;
    if (flag == "--data") o.data = v;
    else if (flag == "--epochs") o.epochs = parse_int(flag, v, 1);
    else if (flag == "--batch-size") o.batch_size = parse_int(flag, v, 1);
    else if (flag == "--lr") o.lr = parse_double(flag, v);
    else if (flag == "--seed") o.seed = static_cast<uint64_t>(parse_int(flag, v, 0));
    else if (flag == "--threads") o.threads = static_cast<int>(parse_int(flag, v, 1));
    else if (flag == "--log") o.log = v;
    else if (flag == "--train-limit") o.train_limit = parse_int(flag, v, 1);
    else if (flag == "--min-test-acc") o.min_test_acc = parse_double(flag, v);
    else if (flag == "--device") o.device = v;
    else usage_error("unknown option '" + flag + "'");
  }
  if (!(o.lr > 0)) usage_error("--lr must be positive");
  return o;
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// One line of progress, redrawn in place on a terminal and printed every 25% otherwise.
class ProgressBar {
 public:
  ProgressBar(int64_t epoch, int64_t epochs, int64_t total)
      : epoch_(epoch), epochs_(epochs), total_(total), tty_(::isatty(STDERR_FILENO) != 0), start_(Clock::now()) {}

  void update(int64_t done, double loss, double acc) {
    const double elapsed = seconds_since(start_);
    const bool finished = done >= total_;
    if (tty_) {
      if (!finished && elapsed - last_draw_ < 0.1) return;
    } else {
      const int64_t quarter = done * 4 / total_;
      if (quarter == last_quarter_ || quarter == 0) return;
      last_quarter_ = quarter;
    }
    last_draw_ = elapsed;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * done / total_);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kWidth - filled), '.');
    std::fprintf(stderr, "%sepoch %lld/%lld [%s] %3d%% %lld/%lld  loss %.4f  acc %.2f%%  %.0f samples/s%s",
                 tty_ ? "\r" : "", static_cast<long long>(epoch_), static_cast<long long>(epochs_), bar.c_str(),
                 static_cast<int>(100 * done / total_), static_cast<long long>(done),
                 static_cast<long long>(total_), loss, 100.0 * acc, elapsed > 0 ? done / elapsed : 0.0,
                 tty_ && !finished ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  int64_t epoch_, epochs_, total_;
  bool tty_;
  Clock::time_point start_;
  double last_draw_ = -1;
  int64_t last_quarter_ = 0;
};

struct EvalResult {
  double loss;
  int64_t correct;
  int64_t total;
  double acc() const { return static_cast<double>(correct) / static_cast<double>(total); }
};

EvalResult evaluate(const ts::Tensor& x, const ts::Tensor& y, const ts::Tensor& w, const ts::Tensor& b) {
  ts::NoGradGuard no_grad;
  const ts::Tensor logits = ts::linear(x, w, b);
  const double loss = ts::cross_entropy(logits, y).item<double>();
  const auto correct = static_cast<int64_t>((ts::argmax(logits, 1) == y).sum().item<double>());
  return {loss, correct, y.numel()};
}

// The --device to train on, checked before any work: a CUDA device must be usable.
ts::Device select_device(const Options& opt) {
  const ts::Device device(opt.device);  // ts::Error for anything but cpu, cuda, cuda:N
  if (device.is_cuda()) {
    if (!ts::cuda::is_available())
      throw ts::Error(
          fmt::format("--device {}: CUDA is not available: {}", opt.device, ts::cuda::unavailable_reason()));
    if (device.index >= ts::cuda::device_count())
      throw ts::Error(fmt::format("--device {}: there is no CUDA device {} ({} visible)", opt.device, device.index,
                                  ts::cuda::device_count()));
    ts::cuda::set_allow_tf32(opt.tf32);
  } else if (opt.tf32) {
    std::fprintf(stderr, "note: --tf32 only affects CUDA devices; it is ignored on the CPU\n");
  }
  return device;
}

int run(const Options& opt) {
  const ts::Device device = select_device(opt);
  if (opt.threads > 0) ts::set_num_threads(opt.threads);
  ts::manual_seed(opt.seed);
  const auto t_start = Clock::now();

  std::error_code ec;
  TS_CHECK(std::filesystem::is_directory(opt.data, ec),
           "the data directory '{}' does not exist; pass --data DIR (the datasets root holding "
           "mnist/, or the mnist folder itself) or set TESSERA_DATA",
           opt.data);
  ts::data::MnistSplit train = ts::data::load_mnist(opt.data, ts::data::MnistSet::Train);
  const ts::data::MnistSplit test = ts::data::load_mnist(opt.data, ts::data::MnistSet::Test);
  ts::Tensor x_train = ts::data::mnist_flat_float(train.images);
  ts::Tensor y_train = train.labels;
  if (opt.train_limit > 0 && opt.train_limit < train.size()) {
    x_train = x_train.narrow(0, 0, opt.train_limit).contiguous();
    y_train = y_train.narrow(0, 0, opt.train_limit).contiguous();
  }
  // The whole data set lives on the training device (188 MB of float32 pixels for MNIST):
  // batches are gathered there with index_select, so nothing crosses the bus per step.
  x_train = x_train.to(device);
  y_train = y_train.to(device);
  const ts::Tensor x_test = ts::data::mnist_flat_float(test.images).to(device);
  const ts::Tensor y_test = test.labels.to(device);
  const int64_t n_train = y_train.numel();
  const double load_s = seconds_since(t_start);
  std::printf("MNIST: %lld train / %lld test images from %s (loaded in %.2f s)\n", static_cast<long long>(n_train),
              static_cast<long long>(y_test.numel()), opt.data.c_str(), load_s);
  std::printf("logistic regression 784 -> 10, SGD lr %g, batch %lld, %lld epochs, seed %llu, %d threads, device %s%s\n",
              opt.lr, static_cast<long long>(opt.batch_size), static_cast<long long>(opt.epochs),
              static_cast<unsigned long long>(opt.seed), ts::get_num_threads(), device.str().c_str(),
              device.is_cuda() && opt.tf32 ? " (TF32)" : "");

  // nn.Linear's default initialization: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
  const double bound = 1.0 / std::sqrt(784.0);
  ts::Tensor w = ts::empty({10, 784});
  ts::Tensor b = ts::empty({10});
  ts::uniform_(w, -bound, bound);
  ts::uniform_(b, -bound, bound);
  w = w.to(device);  // initialized on the CPU: the same weights for a seed on every device
  b = b.to(device);
  w.requires_grad_(true);
  b.requires_grad_(true);

  std::ofstream log;
  if (!opt.log.empty()) {
    log.open(opt.log);
    TS_CHECK(log.good(), "logreg_mnist: cannot write the metrics log '{}'", opt.log);
    log << "epoch,train_loss,train_acc,test_loss,test_acc,epoch_seconds,samples_per_sec\n";
  }

  EvalResult final_eval{};
  const auto t_train = Clock::now();
  for (int64_t epoch = 1; epoch <= opt.epochs; ++epoch) {
    const auto t_epoch = Clock::now();
    const ts::Tensor perm = ts::randperm(n_train).to(device);  // drawn on the CPU, as the initialization
    ProgressBar bar(epoch, opt.epochs, n_train);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (int64_t start = 0; start < n_train; start += opt.batch_size) {
      const int64_t len = std::min(opt.batch_size, n_train - start);
      const ts::Tensor idx = perm.narrow(0, start, len);
      const ts::Tensor xb = ts::index_select(x_train, 0, idx);
      const ts::Tensor yb = ts::index_select(y_train, 0, idx);

      const ts::Tensor logits = ts::linear(xb, w, b);
      const ts::Tensor loss = ts::cross_entropy(logits, yb);
      loss.backward();
      {
        ts::NoGradGuard no_grad;
        const ts::Tensor hits = (ts::argmax(logits, 1) == yb).sum();
        w.sub_(w.grad(), opt.lr);
        b.sub_(b.grad(), opt.lr);
        w.set_grad(ts::Tensor());
        b.set_grad(ts::Tensor());
        // item() waits for the device, so the metrics are read after the whole step is queued.
        loss_sum += loss.item<double>() * static_cast<double>(len);
        correct += static_cast<int64_t>(hits.item<double>());
      }
      seen += len;
      bar.update(seen, loss_sum / static_cast<double>(seen), static_cast<double>(correct) / static_cast<double>(seen));
    }
    const double epoch_s = seconds_since(t_epoch);
    const double train_loss = loss_sum / static_cast<double>(seen);
    const double train_acc = static_cast<double>(correct) / static_cast<double>(seen);
    final_eval = evaluate(x_test, y_test, w, b);
    TS_CHECK(std::isfinite(train_loss), "logreg_mnist: the training loss diverged to {} in epoch {}; lower --lr",
             train_loss, epoch);
    std::printf("epoch %lld/%lld  train loss %.4f acc %.2f%%  |  test loss %.4f acc %.2f%% (%lld/%lld)  |  %.2f s, "
                "%.0f samples/s\n",
                static_cast<long long>(epoch), static_cast<long long>(opt.epochs), train_loss, 100 * train_acc,
                final_eval.loss, 100 * final_eval.acc(), static_cast<long long>(final_eval.correct),
                static_cast<long long>(final_eval.total), epoch_s, static_cast<double>(seen) / epoch_s);
    std::fflush(stdout);
    if (log.is_open()) {
      log << epoch << ',' << train_loss << ',' << train_acc << ',' << final_eval.loss << ',' << final_eval.acc() << ','
          << epoch_s << ',' << static_cast<double>(seen) / epoch_s << '\n';
      log.flush();
    }
  }
  std::printf("final test accuracy %.2f%% (%lld/%lld); training %.2f s, total %.2f s\n", 100 * final_eval.acc(),
              static_cast<long long>(final_eval.correct), static_cast<long long>(final_eval.total),
              seconds_since(t_train), seconds_since(t_start));
  if (opt.min_test_acc >= 0 && final_eval.acc() < opt.min_test_acc) {
    std::fprintf(stderr, "logreg_mnist: test accuracy %.4f is below --min-test-acc %.4f\n", final_eval.acc(),
                 opt.min_test_acc);
    return 3;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "logreg_mnist: error: %s\n", e.what());
    return 1;
  }
}
