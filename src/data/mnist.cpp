#include "tessera/data/mnist.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "tessera/creation.h"
#include "tessera/error.h"
#include "tessera/ops.h"

namespace ts::data {
namespace {

namespace fs = std::filesystem;

/// A file read through zlib: gzip-compressed files are inflated, anything else is read as is.
class ZFile {
 public:
  explicit ZFile(std::string path) : path_(std::move(path)) {
    std::error_code ec;
    TS_CHECK(!fs::is_directory(path_, ec), "idx: '{}' is a directory, expected an IDX file", path_);
    errno = 0;
    file_ = gzopen(path_.c_str(), "rb");
    TS_CHECK(file_ != nullptr, "idx: cannot open '{}': {}", path_,
             errno != 0 ? std::strerror(errno) : "zlib could not allocate its state");
    gzbuffer(file_, 1u << 17);
  }
  ~ZFile() {
    if (file_ != nullptr) gzclose(file_);
  }
  ZFile(const ZFile&) = delete;
  ZFile& operator=(const ZFile&) = delete;

  /// Reads up to `n` bytes; fewer only at the end of the data. Throws on a corrupt stream.
  size_t read(void* dst, size_t n) {
    size_t total = 0;
    while (total < n) {
      const auto chunk = static_cast<unsigned>(std::min<size_t>(n - total, size_t{1} << 24));
      const int got = gzread(file_, static_cast<char*>(dst) + total, chunk);
      if (got < 0) {
        int err = 0;
        const char* msg = gzerror(file_, &err);
        TS_ERROR("idx: '{}': corrupt or unreadable data ({})", path_, err == Z_ERRNO ? std::strerror(errno) : msg);
      }
      if (got == 0) break;
      total += static_cast<size_t>(got);
    }
    return total;
  }

  /// True when a gzip stream ended before its end marker and checksum (zlib reports this as
  /// a soft Z_BUF_ERROR so that growing files can be followed; for us it is truncation).
  bool gzip_truncated() {
    int err = Z_OK;
    gzerror(file_, &err);
    return err == Z_BUF_ERROR;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

uint32_t read_be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

struct IdxData {
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;
};

/// Reads an unsigned-byte IDX file of `ndim` dims. `what` names one item in messages.
IdxData read_idx(const std::string& path, uint32_t expected_magic, const char* what) {
  ZFile file(path);
  const auto ndim = static_cast<size_t>(expected_magic & 0xffu);

  unsigned char header[16] = {};
  const size_t header_size = 4 + 4 * ndim;
  const size_t got_header = file.read(header, header_size);
  TS_CHECK(!(got_header < header_size && file.gzip_truncated()),
           "idx: '{}': truncated gzip stream inside the {}-byte header", path, header_size);
  TS_CHECK(got_header >= 4, "idx: '{}': truncated header: the file holds {} byte(s), an IDX file starts with a "
           "4-byte magic number", path, got_header);
  const uint32_t magic = read_be32(header);
  if (magic != expected_magic) {
    const char* hint = "";
    if (magic == kIdxLabelsMagic) hint = " (this looks like an IDX labels file)";
    if (magic == kIdxImagesMagic) hint = " (this looks like an IDX images file)";
    if ((magic >> 16) == 0x1f8b) hint = " (the data is gzip-compressed twice)";
    TS_ERROR("idx: '{}': bad magic number 0x{:08x}, expected 0x{:08x} (IDX, unsigned bytes, {} dim{}){}", path,
             magic, expected_magic, ndim, ndim == 1 ? "" : "s", hint);
  }
  TS_CHECK(got_header == header_size, "idx: '{}': truncated header: {} of its {} bytes are present", path,
           got_header, header_size);

  IdxData out;
  uint64_t payload = 1;
  std::string dims_str;
  for (size_t d = 0; d < ndim; ++d) {
    const uint32_t n = read_be32(header + 4 + 4 * d);
    dims_str += (d == 0 ? "" : " x ") + std::to_string(n);
    out.dims.push_back(static_cast<int64_t>(n));
  }
  for (size_t d = 0; d < ndim; ++d) {
    const auto n = static_cast<uint64_t>(out.dims[d]);
    TS_CHECK(n != 0, "idx: '{}': the header declares a zero dimension ({}); the file holds no {}", path, dims_str,
             what);
    TS_CHECK(payload <= kIdxMaxPayloadBytes / n,
             "idx: '{}': the header declares {} = more than {} bytes, larger than any valid file; the header is "
             "corrupt", path, dims_str, kIdxMaxPayloadBytes);
    payload *= n;
  }

  // Grow the buffer with the bytes actually present, so a corrupt header that claims a huge
  // payload in a small file fails on truncation instead of allocating what it claims.
  constexpr size_t kChunk = size_t{4} << 20;
  while (out.bytes.size() < payload) {
    const size_t old = out.bytes.size();
    const size_t want = std::min<size_t>(kChunk, payload - old);
    out.bytes.resize(old + want);
    const size_t got = file.read(out.bytes.data() + old, want);
    out.bytes.resize(old + got);
    if (got < want) break;
  }
  if (out.bytes.size() < payload) {
    TS_ERROR("idx: '{}': truncated{}: the header declares {} ({} bytes of {}) but only {} bytes follow it", path,
             file.gzip_truncated() ? " gzip stream" : "", dims_str, payload, what, out.bytes.size());
  }
  unsigned char extra[64];
  const size_t trailing = file.read(extra, sizeof(extra));
  TS_CHECK(trailing == 0,
           "idx: '{}': unexpected data after the last item: the header declares {} ({} bytes of {}) but the file "
           "is longer", path, dims_str, payload, what);
  TS_CHECK(!file.gzip_truncated(),
           "idx: '{}': truncated gzip stream: the data is complete but the gzip end marker and checksum are missing",
           path);
  return out;
}

/// `dir/name.gz`, else `dir/name`; empty if neither exists.
std::string find_file(const fs::path& dir, const std::string& name) {
  std::error_code ec;
  for (const fs::path& p : {dir / (name + ".gz"), dir / name}) {
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return {};
}

}  // namespace

Tensor read_idx_images(const std::string& path) {
  IdxData idx = read_idx(path, kIdxImagesMagic, "images");
  Tensor out = ts::empty({idx.dims[0], idx.dims[1], idx.dims[2]}, TensorOptions(kUInt8));
  std::memcpy(out.data_ptr<uint8_t>(), idx.bytes.data(), idx.bytes.size());
  return out;
}

Tensor read_idx_labels(const std::string& path) {
  IdxData idx = read_idx(path, kIdxLabelsMagic, "labels");
  Tensor out = ts::empty({idx.dims[0]}, TensorOptions(kInt64));
  int64_t* dst = out.data_ptr<int64_t>();
  for (size_t i = 0; i < idx.bytes.size(); ++i) dst[i] = idx.bytes[i];
  return out;
}

MnistSplit load_mnist(const std::string& dir, MnistSet set) {
  const std::string prefix = set == MnistSet::Train ? "train" : "t10k";
  const std::string images_name = prefix + "-images-idx3-ubyte";
  const std::string labels_name = prefix + "-labels-idx1-ubyte";

  std::error_code ec;
  TS_CHECK(fs::is_directory(dir, ec), "mnist: '{}' is not a directory; expected the folder holding {}.gz", dir,
           images_name);
  fs::path folder = dir;
  if (find_file(folder, images_name).empty() && !find_file(folder / "mnist", images_name).empty()) {
    folder = folder / "mnist";
  }
  const std::string images_path = find_file(folder, images_name);
  const std::string labels_path = find_file(folder, labels_name);
  TS_CHECK(!images_path.empty(), "mnist: found neither {0}.gz nor {0} in '{1}' or '{1}/mnist'", images_name, dir);
  TS_CHECK(!labels_path.empty(), "mnist: found neither {0}.gz nor {0} in '{1}' (next to {2})", labels_name,
           folder.string(), images_path);

  MnistSplit split;
  split.images = read_idx_images(images_path);
  split.labels = read_idx_labels(labels_path);
  TS_CHECK(split.images.size(1) == 28 && split.images.size(2) == 28,
           "mnist: '{}' holds {}x{} images, expected MNIST's 28x28", images_path, split.images.size(1),
           split.images.size(2));
  TS_CHECK(split.images.size(0) == split.labels.size(0),
           "mnist: '{}' holds {} images but '{}' holds {} labels; the two files must describe the same samples",
           images_path, split.images.size(0), labels_path, split.labels.size(0));
  const int64_t* labels = split.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < split.labels.numel(); ++i) {
    TS_CHECK(labels[i] >= 0 && labels[i] <= 9, "mnist: '{}': label {} at index {} is not a digit 0..9",
             labels_path, labels[i], i);
  }
  return split;
}

Tensor mnist_flat_float(const Tensor& images) {
  TS_CHECK(images.dtype() == kUInt8 && images.dim() == 3,
           "mnist_flat_float: expected UInt8 images of shape (N, rows, cols) but got {} {}",
           dtype_name(images.dtype()), shape_str(images.shape()));
  const int64_t n = images.size(0);
  Tensor flat = images.reshape({n, images.size(1) * images.size(2)}).to(kFloat32);
  flat.div_(255.0);
  return flat;
}

}  // namespace ts::data
