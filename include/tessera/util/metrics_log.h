#pragma once
/// Training metrics: rows of named values appended to a CSV file (flushed per row, so a
/// crashed run keeps what it logged) and kept in memory for plotting.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace ts::util {

class MetricsLog {
 public:
  /// `columns` fixes the CSV header; `path` empty keeps the log in memory only. With
  /// `append`, an existing file with the same header is continued (resumed runs).
  MetricsLog(std::vector<std::string> columns, const std::string& path = "", bool append = false);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  /// Appends a row; every column must be given (ts::Error naming the missing one).
  void log(const std::map<std::string, double>& row);
  const std::vector<std::string>& columns() const { return columns_; }
  /// All values logged for `column`, in order.
  std::vector<double> series(const std::string& column) const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<double>> rows_;
  std::FILE* file_ = nullptr;
};

/// Every column of a CSV written by MetricsLog (e.g. to plot a resumed run's whole history);
/// an absent file gives no columns.
std::map<std::string, std::vector<double>> read_metrics_csv(const std::string& path);

/// One curve of a line plot.
struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
};

/// Writes a self-contained SVG line chart (axes with ticks, grid, legend). Several panels
/// side by side, one per `panels` entry (e.g. loss and accuracy). Throws ts::Error naming the
/// file if it cannot be written.
void write_svg_plot(const std::string& path, const std::string& title,
                    const std::vector<std::pair<std::string, std::vector<PlotSeries>>>& panels,
                    const std::string& x_label = "epoch");

}  // namespace ts::util
