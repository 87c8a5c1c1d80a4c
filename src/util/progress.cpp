#include "tessera/util/progress.h"

#include <unistd.h>

#include <cmath>

#include <fmt/format.h>

namespace ts::util {

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit, std::FILE* out)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), out_(out),
      tty_(isatty(fileno(out)) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double ProgressBar::throughput() const {
  const double s = elapsed_seconds();
  return s > 0 ? static_cast<double>(items_) / s : 0.0;
}

std::string ProgressBar::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{:02}:{:02}", s / 60, s % 60);
}

void ProgressBar::update(int64_t step, int64_t items, const std::vector<std::pair<std::string, double>>& metrics) {
  step_ = step;
  items_ += items;
  metrics_ = metrics;
  const auto now = std::chrono::steady_clock::now();
  if (tty_ && now - last_draw_ < std::chrono::milliseconds(100) && step_ < total_) return;
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish() { draw(true); }

void ProgressBar::draw(bool final_draw) {
  const double frac = total_ > 0 ? static_cast<double>(step_) / static_cast<double>(total_) : 1.0;
  const auto percent = static_cast<int64_t>(frac * 100);
  // Without a terminal, print a plain line every 10% instead of redrawing.
  if (!tty_ && !final_draw && percent / 10 == last_logged_percent_ / 10) return;
  last_logged_percent_ = percent;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  const double elapsed = elapsed_seconds();
  const double eta = frac > 0 ? elapsed * (1 - frac) / frac : NAN;
  std::string line = fmt::format("{} [{}] {:>3}% {}/{}", label_, bar, percent, step_, total_);
  for (const auto& [name, value] : metrics_) line += fmt::format(" | {} {:.4g}", name, value);
  line += fmt::format(" | {:.0f} {}/s | {} {}", throughput(), unit_, final_draw ? "took" : "eta",
                      format_duration(final_draw ? elapsed : eta));
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s%s", line.c_str(), final_draw ? "\n" : "");
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

}  // namespace ts::util
