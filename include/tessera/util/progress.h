#pragma once
/// A live one-line progress bar for training loops: position, percentage, running metrics,
/// throughput and ETA, redrawn in place at most every 100 ms (plain lines when stdout is not
/// a terminal, so logs stay readable).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace ts::util {

class ProgressBar {
 public:
  /// `total` steps; `unit` names what `items` counts in throughput ("samples", "tokens").
  ProgressBar(std::string label, int64_t total, std::string unit = "samples", std::FILE* out = stdout);
  /// Advances to `step` (1-based) after processing `items` more units; `metrics` are shown
  /// as "name value" pairs.
  void update(int64_t step, int64_t items, const std::vector<std::pair<std::string, double>>& metrics);
  /// Draws the final state and ends the line.
  void finish();
  double elapsed_seconds() const;
  /// Units processed per second so far.
  double throughput() const;

  /// "1:02:03" / "02:03" formatting used for ETA and elapsed time.
  static std::string format_duration(double seconds);

 private:
  void draw(bool final_draw);
  std::string label_, unit_;
  int64_t total_, step_ = 0, items_ = 0;
  std::vector<std::pair<std::string, double>> metrics_;
  std::FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t last_logged_percent_ = -1;
};

}  // namespace ts::util
