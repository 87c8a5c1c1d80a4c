#pragma once
/// Readers for the IDX files of MNIST (and Fashion-MNIST, which shares the format).
///
/// Files may be gzip-compressed (the official `*-ubyte.gz`) or raw; zlib reads both. Every
/// malformed input -- missing file, bad magic number, zero or oversized dims, truncated
/// data, trailing bytes, corrupt gzip stream, image/label count mismatch, labels out of
/// range -- raises a ts::Error whose message names the file and the problem. Memory grows
/// with the bytes actually read, never with the dims a header claims.
#include <string>

#include "tessera/tensor.h"

namespace ts::data {

/// IDX magic numbers (bytes 0 0 0x08 ndim): unsigned-byte data of 3 and 1 dimensions.
inline constexpr uint32_t kIdxImagesMagic = 0x00000803;
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;
/// Largest payload read_idx_* accept (a corrupt header must not request more).
inline constexpr uint64_t kIdxMaxPayloadBytes = uint64_t{1} << 31;

/// Reads an IDX3 unsigned-byte file into a UInt8 tensor of shape (count, rows, cols).
Tensor read_idx_images(const std::string& path);
/// Reads an IDX1 unsigned-byte file into an Int64 tensor of shape (count).
Tensor read_idx_labels(const std::string& path);

struct MnistSplit {
  Tensor images;  ///< UInt8 (N, 28, 28), pixels 0..255
  Tensor labels;  ///< Int64 (N), digits 0..9
  int64_t size() const { return labels.numel(); }
};

enum class MnistSet { Train, Test };

/// Loads the official files of one split from `dir`:
///   train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz]  (MnistSet::Train)
///   t10k-images-idx3-ubyte[.gz]  + t10k-labels-idx1-ubyte[.gz]   (MnistSet::Test)
/// `dir` may also be a datasets root that holds them in a `mnist/` subfolder. Checks that
/// images and labels agree in count, images are 28x28 and labels are in 0..9.
MnistSplit load_mnist(const std::string& dir, MnistSet set);

/// Images as float32 (N, 784) scaled to [0, 1] -- the usual model input.
Tensor mnist_flat_float(const Tensor& images);

}  // namespace ts::data
