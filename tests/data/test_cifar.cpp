// CIFAR-10 binary batches: well-formed synthetic files, every kind of corruption the reader
// diagnoses, the CIFAR10 / MNIST datasets, and the real data when TESSERA_DATA holds it.
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tessera/data/cifar10.h"
#include "tessera/data/dataloader.h"
#include "tessera/data/mnist_dataset.h"
#include "tessera/tessera.h"

#include "temp_dir.h"

namespace fs = std::filesystem;
using Catch::Contains;
using Bytes = std::vector<uint8_t>;
using namespace ts::data;

namespace {

using ts::test::TempDir;

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

/// Pixel (channel c, row y, col x) of record `id`.
uint8_t pixel(int64_t id, int64_t c, int64_t y, int64_t x) {
  return static_cast<uint8_t>((id * 37 + c * 101 + y * 7 + x * 3) % 256);
}

/// `n` records with ids first_id.., label id % 10.
Bytes records(int64_t first_id, int64_t n) {
  Bytes out;
  for (int64_t id = first_id; id < first_id + n; ++id) {
    out.push_back(static_cast<uint8_t>(id % 10));
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) out.push_back(pixel(id, c, y, x));
  }
  return out;
}

void check_records(const Cifar10Split& split, int64_t first_id, int64_t n) {
  REQUIRE(split.images.dtype() == ts::kUInt8);
  REQUIRE(split.images.shape() == ts::Shape{n, 3, 32, 32});
  REQUIRE(split.labels.dtype() == ts::kInt64);
  REQUIRE(split.labels.shape() == ts::Shape{n});
  const uint8_t* px = split.images.data_ptr<uint8_t>();
  const int64_t* labels = split.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    REQUIRE(labels[i] == (first_id + i) % 10);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; y += 7)
        for (int64_t x = 0; x < 32; x += 5) REQUIRE(px[((i * 3 + c) * 32 + y) * 32 + x] == pixel(first_id + i, c, y, x));
  }
}

/// A training split of 3 + 2 + 1 + 1 + 4 records and a test split of 2.
void write_split(const fs::path& dir) {
  fs::create_directories(dir);
  const int64_t counts[5] = {3, 2, 1, 1, 4};
  int64_t id = 0;
  for (int b = 0; b < 5; ++b) {
    write_file((dir / ("data_batch_" + std::to_string(b + 1) + ".bin")).string(), records(id, counts[b]));
    id += counts[b];
  }
  write_file((dir / "test_batch.bin").string(), records(1000, 2));
}

std::string data_root() {
  const char* env = std::getenv("TESSERA_DATA");
  return env != nullptr ? std::string(env) : std::string();
}

}  // namespace

TEST_CASE("read_cifar10_batch reads records of any count", "[data][cifar]") {
  TempDir dir;
  const std::string path = dir.file("batch.bin");
  write_file(path, records(0, 7));
  check_records(read_cifar10_batch(path), 0, 7);
  write_file(path, records(42, 1));
  check_records(read_cifar10_batch(path), 42, 1);
}

TEST_CASE("load_cifar10 concatenates the five training batches in order", "[data][cifar]") {
  TempDir dir;
  write_split(dir.path);
  check_records(load_cifar10(dir.path.string(), Cifar10Set::Train), 0, 11);
  check_records(load_cifar10(dir.path.string(), Cifar10Set::Test), 1000, 2);
  // A datasets root holding cifar10/ or cifar-10-batches-bin/ works too.
  TempDir root;
  write_split(root.path / "cifar-10-batches-bin");
  check_records(load_cifar10(root.path.string(), Cifar10Set::Train), 0, 11);
  TempDir root2;
  write_split(root2.path / "cifar10");
  check_records(load_cifar10(root2.path.string(), Cifar10Set::Test), 1000, 2);
}

TEST_CASE("CIFAR-10 reader rejects missing, truncated and corrupt files", "[data][cifar]") {
  TempDir dir;
  const std::string missing = dir.file("nope.bin");
  REQUIRE_THROWS_WITH(read_cifar10_batch(missing), Contains("cifar10: cannot open") && Contains(missing) &&
                                                       Contains("No such file"));
  REQUIRE_THROWS_WITH(read_cifar10_batch(dir.path.string()), Contains("is a directory"));

  const std::string empty = dir.file("empty.bin");
  write_file(empty, {});
  REQUIRE_THROWS_WITH(read_cifar10_batch(empty), Contains(empty) && Contains("is empty"));

  const Bytes three = records(0, 3);
  const Bytes cut(three.begin(), three.end() - 100);
  const std::string short_file = dir.file("short.bin");
  write_file(short_file, cut);
  REQUIRE_THROWS_WITH(read_cifar10_batch(short_file),
                      Contains(short_file) && Contains("holds 9119 bytes, not a multiple of the 3073-byte record (2 "
                                                       "whole records and 2973 bytes over)"));
  Bytes longer = records(0, 2);
  longer.push_back(0);
  write_file(short_file, longer);
  REQUIRE_THROWS_WITH(read_cifar10_batch(short_file), Contains("2 whole records and 1 bytes over"));

  Bytes bad_label = records(0, 4);
  bad_label[2 * 3073] = 10;
  const std::string labels = dir.file("labels.bin");
  write_file(labels, bad_label);
  REQUIRE_THROWS_WITH(read_cifar10_batch(labels),
                      Contains(labels) && Contains("record 2 (byte offset 6146) has label 10, expected a class 0..9"));

  // A split with a batch missing names it; a corrupt batch inside a split names that file.
  write_split(dir.path / "split");
  fs::remove(dir.path / "split" / "data_batch_3.bin");
  REQUIRE_THROWS_WITH(load_cifar10((dir.path / "split").string(), Cifar10Set::Train),
                      Contains("data_batch_3.bin' is missing") && Contains("training split"));
  write_file((dir.path / "split" / "data_batch_3.bin").string(), Bytes(5000, 1));
  REQUIRE_THROWS_WITH(load_cifar10((dir.path / "split").string(), Cifar10Set::Train),
                      Contains("data_batch_3.bin") && Contains("not a multiple"));
  REQUIRE_THROWS_WITH(load_cifar10(dir.file("absent"), Cifar10Set::Test), Contains("is not a directory"));
  TempDir bare;
  REQUIRE_THROWS_WITH(load_cifar10(bare.path.string(), Cifar10Set::Test),
                      Contains("found no test_batch.bin in") && Contains("cifar-10-batches-bin"));
}

TEST_CASE("CIFAR10 dataset yields float images in [0, 1] and int64 labels", "[data][cifar]") {
  TempDir dir;
  write_split(dir.path);
  const CIFAR10 train(dir.path.string(), Cifar10Set::Train);
  REQUIRE(train.size() == 11);
  const Example ex = train.get(4);
  REQUIRE(ex.data.dtype() == ts::kFloat32);
  REQUIRE(ex.data.shape() == ts::Shape{3, 32, 32});
  REQUIRE(ex.target.dtype() == ts::kInt64);
  REQUIRE(ex.target.dim() == 0);
  REQUIRE(ex.target.item<int64_t>() == 4);
  const auto v = ex.data.to_vector<float>();
  REQUIRE(v[0] == static_cast<float>(pixel(4, 0, 0, 0)) / 255.0f);
  REQUIRE(v[1024 + 33] == static_cast<float>(pixel(4, 1, 1, 1)) / 255.0f);
  REQUIRE_THROWS_WITH(train.get(11), Contains("CIFAR10: index 11 is out of range for a dataset of 11 images"));
  REQUIRE_THROWS_WITH(CIFAR10(Cifar10Split{ts::zeros({2, 3, 32, 32}), ts::zeros({3}, ts::kInt64)}),
                      Contains("CIFAR10: expected uint8 images (N, 3, 32, 32)") && Contains("float32 [2, 3, 32, 32]"));

  DataLoader loader(std::make_shared<CIFAR10>(train), {.batch_size = 4, .num_workers = 2});
  int64_t seen = 0;
  for (auto& batch : loader) {
    REQUIRE(batch.data.shape() == ts::Shape{batch.size(), 3, 32, 32});
    seen += batch.size();
  }
  REQUIRE(seen == 11);
}

TEST_CASE("MNIST dataset wraps a split as (1, 28, 28) float images", "[data][mnist]") {
  MnistSplit split;
  std::vector<uint8_t> px(2 * 784);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i % 256);
  split.images = ts::tensor<uint8_t>(px, {2, 28, 28});
  split.labels = ts::tensor<int64_t>({7, 3});
  const MNIST ds(split);
  REQUIRE(ds.size() == 2);
  const Example ex = ds.get(1);
  REQUIRE(ex.data.shape() == ts::Shape{1, 28, 28});
  REQUIRE(ex.data.to_vector<float>()[0] == static_cast<float>(784 % 256) / 255.0f);
  REQUIRE(ex.target.item<int64_t>() == 3);
  REQUIRE_THROWS_WITH(ds.get(-1), Contains("MNIST: index -1 is out of range"));
  REQUIRE_THROWS_WITH(MNIST(MnistSplit{ts::zeros({2, 28, 28}, ts::kUInt8), ts::zeros({3}, ts::kInt64)}),
                      Contains("MNIST: expected uint8 images (N, 28, 28) and int64 labels (N)"));
}

TEST_CASE("the real CIFAR-10 files in TESSERA_DATA: 50,000 train and 1,000 test images", "[data][cifar][real]") {
  const std::string root = data_root();
  if (root.empty() || !fs::exists(fs::path(root) / "cifar10" / "test_batch.bin")) {
    WARN("TESSERA_DATA is unset or holds no cifar10/ folder; skipping the real CIFAR-10 check");
    return;
  }
  auto histogram = [](const ts::Tensor& labels) {
    std::array<int64_t, 10> h{};
    for (int64_t l : labels.to_vector<int64_t>()) ++h[static_cast<size_t>(l)];
    return h;
  };
  // Counts and first labels from shared/data/cifar10/README.md.
  const Cifar10Split train = load_cifar10(root, Cifar10Set::Train);
  REQUIRE(train.size() == 50000);
  REQUIRE(histogram(train.labels) == std::array<int64_t, 10>{5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000,
                                                              5000});
  const auto first_train = train.labels.slice(0, 0, 10).to_vector<int64_t>();
  REQUIRE(first_train == std::vector<int64_t>{6, 9, 9, 4, 1, 1, 2, 7, 8, 3});  // frog, truck, truck, deer, ...
  REQUIRE(histogram(train.labels.slice(0, 0, 10000)) ==
          std::array<int64_t, 10>{1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981});

  const Cifar10Split test = load_cifar10(root, Cifar10Set::Test);
  REQUIRE(test.size() == 1000);
  REQUIRE(histogram(test.labels) == std::array<int64_t, 10>{103, 89, 100, 103, 90, 86, 112, 102, 106, 109});
  REQUIRE(test.labels.slice(0, 0, 10).to_vector<int64_t>() == std::vector<int64_t>{3, 8, 8, 0, 6, 6, 1, 6, 3, 1});

  // Real photos: every channel spans (almost) the whole byte range, the mean is mid-grey.
  const double mean = train.images.slice(0, 0, 1000).to(ts::kFloat64).mean().item<double>() / 255.0;
  REQUIRE(mean > 0.4);
  REQUIRE(mean < 0.55);
  REQUIRE(kCifar10Classes[static_cast<size_t>(first_train[0])] == "frog");
}
