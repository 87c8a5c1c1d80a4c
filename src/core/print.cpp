// PyTorch-style printing: nested brackets, a shared number format per tensor, and a summary
// with "..." for large tensors.
#include <cmath>
#include <sstream>

#include "tessera/autograd.h"
#include "tessera/ops.h"

namespace ts {
namespace {

constexpr int64_t kSummarizeThreshold = 1000;
constexpr int64_t kEdgeItems = 3;

struct Format {
  bool integral = false;
  bool boolean = false;
  bool scientific = false;
  int precision = 4;
};

Format choose_format(const std::vector<double>& v, bool integral_dtype) {
  Format f;
  if (integral_dtype) {
    f.integral = true;
    return f;
  }
  double max_abs = 0, min_abs = std::numeric_limits<double>::infinity();
  bool all_int = true;
  for (double x : v) {
    if (!std::isfinite(x)) continue;
    max_abs = std::max(max_abs, std::abs(x));
    if (x != 0) min_abs = std::min(min_abs, std::abs(x));
    all_int &= x == std::floor(x);
  }
  f.scientific = max_abs >= 1e8 || (min_abs < 1e-4 && min_abs > 0) || (min_abs > 0 && max_abs / min_abs > 1000 && max_abs > 1000);
  f.integral = all_int && !f.scientific;
  return f;
}

std::string format_value(double x, const Format& f, bool integral_dtype) {
  if (f.boolean) return x != 0 ? "True" : "False";
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (integral_dtype) return fmt::format("{}", static_cast<int64_t>(x));
  if (f.scientific) return fmt::format("{:.{}e}", x, f.precision);
  if (f.integral) return fmt::format("{:.0f}.", x);
  return fmt::format("{:.{}f}", x, f.precision);
}

void print_rec(std::ostringstream& os, const Tensor& t, const std::vector<double>& flat, int64_t base,
               const Strides& st, int64_t dim, const Format& f, bool integral_dtype, size_t width, bool summarize,
               int indent) {
  const int64_t n = t.shape()[static_cast<size_t>(dim)];
  os << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      os << (dim + 1 == t.dim() ? "...," : "...,\n" + std::string(static_cast<size_t>(indent + 1), ' '));
      if (dim + 1 == t.dim()) os << ' ';
      i = n - kEdgeItems;
    }
    const int64_t off = base + i * st[static_cast<size_t>(dim)];
    if (dim + 1 == t.dim()) {
      const std::string s = format_value(flat[static_cast<size_t>(off)], f, integral_dtype);
      os << std::string(width > s.size() ? width - s.size() : 0, ' ') << s;
    } else {
      print_rec(os, t, flat, off, st, dim + 1, f, integral_dtype, width, summarize, indent + 1);
    }
    if (i + 1 < n) {
      if (dim + 1 == t.dim()) {
        os << ", ";
      } else {
        os << ",\n" << std::string(t.dim() - dim - 1 > 1 ? 1 : 0, '\n') << std::string(static_cast<size_t>(indent + 1), ' ');
      }
    }
  }
  os << ']';
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "[ Tensor (undefined) ]";
  NoGradGuard no_grad;
  const Tensor c = to(Device()).to(kFloat64).contiguous();
  const std::vector<double> flat = c.to_vector<double>();
  const bool integral_dtype = !ts::is_floating_point(dtype());
  Format f = choose_format(flat, integral_dtype);
  f.boolean = dtype() == DType::Bool;
  size_t width = 0;
  for (double x : flat) width = std::max(width, format_value(x, f, integral_dtype).size());
  std::ostringstream os;
  os << "tensor(";
  if (dim() == 0) {
    os << format_value(flat[0], f, integral_dtype);
  } else if (numel() == 0) {
    os << "[]";
  } else {
    print_rec(os, c, flat, 0, c.strides(), 0, f, integral_dtype, width, numel() > kSummarizeThreshold, 7);
  }
  if (dtype() != kDefaultFloat && dtype() != DType::Int64 && dtype() != DType::Bool) os << ", dtype=" << dtype_name(dtype());
  if (numel() == 0) os << ", size=" << shape_str(shape());
  if (!device().is_cpu()) os << ", device='" << device().str() << "'";
  if (grad_fn()) {
    os << ", grad_fn=<" << grad_fn()->name() << ">";
  } else if (requires_grad()) {
    os << ", requires_grad=True";
  }
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace ts
