#include "tessera/util/metrics_log.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "tessera/error.h"

namespace ts::util {

MetricsLog::MetricsLog(std::vector<std::string> columns, const std::string& path, bool append)
    : columns_(std::move(columns)) {
  if (path.empty()) return;
  const std::string header = fmt::format("{}\n", fmt::join(columns_, ","));
  bool write_header = true;
  if (append) {
    std::ifstream existing(path);
    std::string first;
    if (existing && std::getline(existing, first)) {
      TS_CHECK(first + "\n" == header, "MetricsLog: {} has header '{}', expected '{}'", path, first,
               header.substr(0, header.size() - 1));
      write_header = false;
    }
  }
  file_ = std::fopen(path.c_str(), append ? "a" : "w");
  TS_CHECK(file_ != nullptr, "MetricsLog: cannot open '{}' for writing", path);
  if (write_header) {
    std::fputs(header.c_str(), file_);
    std::fflush(file_);
  }
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::log(const std::map<std::string, double>& row) {
  std::vector<double> values;
  for (const auto& c : columns_) {
    auto it = row.find(c);
    TS_CHECK(it != row.end(), "MetricsLog: row is missing column '{}'", c);
    values.push_back(it->second);
  }
  TS_CHECK(row.size() == columns_.size(), "MetricsLog: row has {} values for {} columns", row.size(), columns_.size());
  if (file_) {
    std::string line;
    for (size_t i = 0; i < values.size(); ++i) line += fmt::format("{}{:.6g}", i ? "," : "", values[i]);
    line += "\n";
    std::fputs(line.c_str(), file_);
    std::fflush(file_);
  }
  rows_.push_back(std::move(values));
}

std::vector<double> MetricsLog::series(const std::string& column) const {
  auto it = std::find(columns_.begin(), columns_.end(), column);
  TS_CHECK(it != columns_.end(), "MetricsLog: no column '{}'", column);
  const auto idx = static_cast<size_t>(it - columns_.begin());
  std::vector<double> out;
  for (const auto& r : rows_) out.push_back(r[idx]);
  return out;
}

namespace {

// "Nice" tick step (1, 2 or 5 times a power of ten) for about `target` ticks over `range`.
double nice_step(double range, int target) {
  if (range <= 0) return 1;
  const double raw = range / target, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

void draw_panel(std::ostringstream& svg, double ox, double oy, double w, double h, const std::string& title,
                const std::vector<PlotSeries>& series, const std::string& x_label) {
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]);
      xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]);
      ymax = std::max(ymax, s.y[i]);
    }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1;
  const double pad = (ymax - ymin) * 0.05;
  ymin -= pad;
  ymax += pad;
  const double L = ox + 60, R = ox + w - 15, T = oy + 35, B = oy + h - 45;
  auto px = [&](double x) { return L + (x - xmin) / (xmax - xmin) * (R - L); };
  auto py = [&](double y) { return B - (y - ymin) / (ymax - ymin) * (B - T); };
  svg << fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" font-size="15">{}</text>)", (L + R) / 2, oy + 22,
                     escape(title))
      << "\n";
  const double ys = nice_step(ymax - ymin, 5), xs = nice_step(xmax - xmin, 6);
  for (double y = std::ceil(ymin / ys) * ys; y <= ymax; y += ys) {
    svg << fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#ddd"/>)", L, py(y), R, py(y))
        << fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="end" font-size="11">{:.4g}</text>)", L - 5,
                       py(y) + 4, y)
        << "\n";
  }
  for (double x = std::ceil(xmin / xs) * xs; x <= xmax; x += xs) {
    svg << fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#eee"/>)", px(x), T, px(x), B)
        << fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" font-size="11">{:.4g}</text>)", px(x),
                       B + 16, x)
        << "\n";
  }
  svg << fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="none" stroke="#444"/>)", L, T,
                     R - L, B - T)
      << fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" font-size="12">{}</text>)", (L + R) / 2,
                     B + 34, escape(x_label))
      << "\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    std::string points;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.y[i])) points += fmt::format("{:.1f},{:.1f} ", px(s.x[i]), py(s.y[i]));
    const char* color = kColors[k % 6];
    svg << fmt::format(R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>)", points, color) << "\n";
    svg << fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="3"/>)",
                       R - 120, T + 14 + 16.0 * static_cast<double>(k), R - 100, T + 14 + 16.0 * static_cast<double>(k),
                       color)
        << fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="11">{}</text>)", R - 95,
                       T + 18 + 16.0 * static_cast<double>(k), escape(s.name))
        << "\n";
  }
}

}  // namespace

void write_svg_plot(const std::string& path, const std::string& title,
                    const std::vector<std::pair<std::string, std::vector<PlotSeries>>>& panels,
                    const std::string& x_label) {
  const double pw = 460, ph = 340;
  const double width = pw * static_cast<double>(std::max<size_t>(panels.size(), 1)), height = ph + 30;
  std::ostringstream svg;
  svg << fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{:.0f}" height="{:.0f}" font-family="sans-serif">)",
                     width, height)
      << "\n"
      << fmt::format(R"(<rect width="100%" height="100%" fill="white"/><text x="{:.1f}" y="20" text-anchor="middle" font-size="16" font-weight="bold">{}</text>)",
                     width / 2, escape(title))
      << "\n";
  for (size_t i = 0; i < panels.size(); ++i)
    draw_panel(svg, pw * static_cast<double>(i), 30, pw, ph, panels[i].first, panels[i].second, x_label);
  svg << "</svg>\n";
  std::ofstream f(path);
  TS_CHECK(static_cast<bool>(f), "write_svg_plot: cannot open '{}' for writing", path);
  f << svg.str();
  TS_CHECK(static_cast<bool>(f), "write_svg_plot: writing '{}' failed", path);
}

std::map<std::string, std::vector<double>> read_metrics_csv(const std::string& path) {
  std::map<std::string, std::vector<double>> cols;
  std::ifstream f(path);
  std::string line;
  std::vector<std::string> names;
  if (!std::getline(f, line)) return cols;
  for (std::stringstream ss(line); std::getline(ss, line, ',');) names.push_back(line);
  while (std::getline(f, line)) {
    std::stringstream ss(line);
    std::string cell;
    for (size_t i = 0; i < names.size() && std::getline(ss, cell, ','); ++i) cols[names[i]].push_back(std::stod(cell));
  }
  return cols;
}

}  // namespace ts::util
