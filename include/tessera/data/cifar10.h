#pragma once
/// Reader for the CIFAR-10 binary batches (`cifar-10-batches-bin/`) and the CIFAR10 dataset.
///
/// A batch file is a sequence of 3073-byte records with no header: one label byte (0..9),
/// then the 32x32 red, green and blue planes, row-major. The record count is file size /
/// 3073, so partial batches (a subset of the test set, say) are read as they are. A missing
/// or unreadable file, a size that is not a whole number of records, an empty file or a
/// label outside 0..9 raises a ts::Error naming the file and the problem.
#include <array>
#include <string>
#include <string_view>

#include "tessera/data/dataset.h"
#include "tessera/tensor.h"

namespace ts::data {

inline constexpr int64_t kCifar10ImageBytes = 3 * 32 * 32;
inline constexpr int64_t kCifar10RecordBytes = 1 + kCifar10ImageBytes;
/// Largest batch file accepted (the official ones are 30 MB): bounds what a stray path can allocate.
inline constexpr uint64_t kCifar10MaxFileBytes = uint64_t{1} << 31;

/// The class names, index = label.
inline constexpr std::array<std::string_view, 10> kCifar10Classes = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

struct Cifar10Split {
  Tensor images;  ///< UInt8 (N, 3, 32, 32), channels R, G, B
  Tensor labels;  ///< Int64 (N), 0..9
  int64_t size() const { return labels.numel(); }
};

enum class Cifar10Set { Train, Test };

/// Reads one binary batch file.
Cifar10Split read_cifar10_batch(const std::string& path);

/// Loads a split from `dir`: data_batch_1.bin .. data_batch_5.bin in that order (Train) or
/// test_batch.bin (Test). `dir` may also be a datasets root holding them in `cifar10/` or
/// `cifar-10-batches-bin/`. Every file of the split must be present.
Cifar10Split load_cifar10(const std::string& dir, Cifar10Set set);

/// CIFAR-10 as a Dataset: data is float32 (3, 32, 32) scaled to [0, 1] (torchvision's
/// ToTensor), target an int64 scalar label.
class CIFAR10 final : public Dataset {
 public:
  CIFAR10(const std::string& dir, Cifar10Set set);
  explicit CIFAR10(Cifar10Split split);
  int64_t size() const override { return split_.size(); }
  Example get(int64_t index) const override;
  const Cifar10Split& split() const { return split_; }

 private:
  Cifar10Split split_;
};

}  // namespace ts::data
