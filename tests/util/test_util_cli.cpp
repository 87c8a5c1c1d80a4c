// Command-line parsing, metrics CSV, SVG plots and the progress bar of the example programs.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <tessera/tessera.h>
#include <tessera/util/cli.h>
#include <tessera/util/metrics_log.h>
#include <tessera/util/progress.h>

using namespace ts::util;

namespace {
std::string read_file(const std::string& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("ArgParser parses typed flags with defaults and rejects bad input", "[util]") {
  ArgParser p("prog", "does things");
  p.add("epochs", "passes", "5").add("lr", "learning rate", "0.1").add("data", "data dir").add_switch("fast", "go fast");
  const char* argv[] = {"prog", "--epochs", "7", "--lr=0.5", "--fast"};
  REQUIRE(p.parse(5, argv));
  REQUIRE(p.get_int("epochs") == 7);
  REQUIRE(p.get_double("lr") == 0.5);
  REQUIRE(p.get_switch("fast"));
  REQUIRE(!p.has("data"));
  REQUIRE(p.help().find("--epochs VALUE") != std::string::npos);
  REQUIRE(p.help().find("(default: 5)") != std::string::npos);

  ArgParser q("prog", "");
  q.add("epochs", "passes", "5");
  const char* bad1[] = {"prog", "--epoch", "3"};
  REQUIRE_THROWS_WITH(q.parse(3, bad1), Catch::Contains("unknown flag --epoch"));
  ArgParser r("prog", "");
  r.add("epochs", "passes", "5");
  const char* bad2[] = {"prog", "--epochs"};
  REQUIRE_THROWS_WITH(r.parse(2, bad2), Catch::Contains("needs a value"));
  ArgParser s("prog", "");
  s.add("epochs", "passes", "5");
  const char* bad3[] = {"prog", "--epochs", "x1"};
  REQUIRE(s.parse(3, bad3));
  REQUIRE_THROWS_WITH(s.get_int("epochs"), Catch::Contains("--epochs expects an integer, got 'x1'"));
}

TEST_CASE("MetricsLog writes CSV rows, continues a resumed file and keeps series", "[util]") {
  const auto path = (std::filesystem::temp_directory_path() / "tessera_metrics_test.csv").string();
  {
    MetricsLog log({"epoch", "loss"}, path);
    log.log({{"epoch", 1}, {"loss", 0.5}});
    REQUIRE_THROWS_WITH(log.log({{"epoch", 2}}), Catch::Contains("missing column 'loss'"));
  }
  {
    MetricsLog log({"epoch", "loss"}, path, /*append=*/true);
    log.log({{"epoch", 2}, {"loss", 0.25}});
    REQUIRE(log.series("loss") == std::vector<double>{0.25});
  }
  REQUIRE(read_file(path) == "epoch,loss\n1,0.5\n2,0.25\n");
  REQUIRE_THROWS_WITH(MetricsLog({"step", "loss"}, path, true), Catch::Contains("header"));
  std::filesystem::remove(path);
}

TEST_CASE("write_svg_plot produces a complete SVG with every series", "[util]") {
  const auto path = (std::filesystem::temp_directory_path() / "tessera_plot_test.svg").string();
  write_svg_plot(path, "run", {{"loss", {{"train", {1, 2, 3}, {2.0, 1.0, 0.5}}, {"test", {1, 2, 3}, {2.1, 1.2, 0.7}}}},
                               {"accuracy", {{"test", {1, 2, 3}, {0.5, 0.8, 0.9}}}}});
  const std::string svg = read_file(path);
  REQUIRE(svg.rfind("<svg", 0) == 0);
  REQUIRE(svg.find("</svg>") != std::string::npos);
  REQUIRE(svg.find("<polyline") != std::string::npos);
  REQUIRE(svg.find(">train<") != std::string::npos);
  REQUIRE(svg.find(">accuracy<") != std::string::npos);
  std::filesystem::remove(path);
  REQUIRE_THROWS_WITH(write_svg_plot("/nonexistent-dir/x.svg", "t", {}), Catch::Contains("/nonexistent-dir/x.svg"));
}

TEST_CASE("ProgressBar prints metrics, throughput and ETA", "[util]") {
  std::FILE* f = std::tmpfile();
  ProgressBar bar("epoch 1", 4, "samples", f);
  for (int i = 1; i <= 4; ++i) bar.update(i, 32, {{"loss", 1.0 / i}});
  bar.finish();
  std::rewind(f);
  char buf[4096] = {};
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  const std::string out(buf, n);
  REQUIRE(out.find("epoch 1 [") != std::string::npos);
  REQUIRE(out.find("100% 4/4") != std::string::npos);
  REQUIRE(out.find("loss 0.25") != std::string::npos);
  REQUIRE(out.find("samples/s") != std::string::npos);
  REQUIRE(out.find("took") != std::string::npos);
  REQUIRE(ProgressBar::format_duration(3725) == "1:02:05");
  REQUIRE(ProgressBar::format_duration(65) == "01:05");
}
