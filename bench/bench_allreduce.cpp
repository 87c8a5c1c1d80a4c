// All-reduce bus bandwidth of ts::dist::Communicator::all_reduce against raw MPI_Allreduce on
// the same buffers, and DDP step time with and without overlapping communication.
//
//   mpirun --oversubscribe -np 2 build/bench/bench_allreduce [--threads 1]
//
// Bus bandwidth = 2 (n - 1) / n * bytes / time (what each link carries in a ring all-reduce),
// the time being the slowest rank's. Each size runs alternating rounds of both and keeps each
// one's best round, so background load hits both alike.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <tessera/dist.h>
#include <tessera/tessera.h>

#include "bench_common.h"

namespace {

using Clock = std::chrono::steady_clock;

double max_over_ranks(double v) {
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return v;
}

// Seconds per call of `fn` over `iters` calls, slowest rank.
template <typename F> double time_per_call(int iters, F&& fn) {
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) fn();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count() / iters;
  return max_over_ranks(s);
}

void bench_allreduce(const std::shared_ptr<ts::dist::Communicator>& comm) {
  const int n = comm->size();
  const double factor = 2.0 * (n - 1) / n;
  if (comm->rank() == 0) {
    std::printf("all_reduce (sum, float32), %d ranks; bus bandwidth in GB/s\n", n);
    std::printf("%10s %8s %12s %12s %12s %12s %7s\n", "bytes", "iters", "MPI us", "ts us", "MPI GB/s", "ts GB/s",
                "ts/MPI");
  }
  for (int64_t bytes = 4 << 10; bytes <= (64 << 20); bytes *= 4) {
    const int64_t count = bytes / 4;
    ts::Tensor t = ts::zeros({count});  // zeros stay zeros: no overflow however often summed
    float* data = t.data_ptr<float>();
    const int iters = static_cast<int>(std::clamp<int64_t>((int64_t{1} << 28) / bytes, 8, 2000));
    double best_mpi = 1e30, best_ts = 1e30;
    for (int round = 0; round < 4; ++round) {
      best_mpi = std::min(best_mpi, time_per_call(iters, [&] {
                            MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(count), MPI_FLOAT, MPI_SUM,
                                          MPI_COMM_WORLD);
                          }));
      best_ts = std::min(best_ts, time_per_call(iters, [&] { comm->all_reduce(t); }));
    }
    if (comm->rank() == 0) {
      const double mpi_bw = factor * static_cast<double>(bytes) / best_mpi / 1e9;
      const double ts_bw = factor * static_cast<double>(bytes) / best_ts / 1e9;
      std::printf("%10lld %8d %12.1f %12.1f %12.2f %12.2f %6.1f%%\n", static_cast<long long>(bytes), iters,
                  best_mpi * 1e6, best_ts * 1e6, mpi_bw, ts_bw, 100.0 * ts_bw / mpi_bw);
    }
  }
}

std::shared_ptr<ts::nn::Sequential> make_mlp() {
  using ts::nn::Linear;
  using ts::nn::ReLU;
  return std::make_shared<ts::nn::Sequential>(std::initializer_list<std::shared_ptr<ts::nn::UnaryModule>>{
      std::make_shared<Linear>(784, 1024), std::make_shared<ReLU>(), std::make_shared<Linear>(1024, 1024),
      std::make_shared<ReLU>(), std::make_shared<Linear>(1024, 1024), std::make_shared<ReLU>(),
      std::make_shared<Linear>(1024, 10)});
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One training step's forward + backward (+ gradient averaging unless under no_sync), in
// seconds, slowest rank.
double step_time(ts::dist::DistributedDataParallel& ddp, const ts::Tensor& x, const ts::Tensor& y, bool sync) {
  ddp.zero_grad();
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = Clock::now();
  if (sync) {
    ts::cross_entropy(ddp.forward(x), y).backward();
  } else {
    auto guard = ddp.no_sync();
    ts::cross_entropy(ddp.forward(x), y).backward();
  }
  return max_over_ranks(std::chrono::duration<double>(Clock::now() - t0).count());
}

// Compute-only, serial-sync, overlapped and communication-only steps are interleaved, so a
// change in background load hits all four medians alike.
void bench_ddp(const std::shared_ptr<ts::dist::Communicator>& comm) {
  const int steps = 21;
  ts::manual_seed(0);
  ts::Tensor x = ts::randn({64, 784});
  ts::Tensor y = ts::randint(0, 10, {64});
  auto make = [&](bool overlap) {
    ts::dist::DDPOptions options;
    options.overlap = overlap;
    options.bucket_cap_mb = 2;
    options.broadcast_buffers = false;
    options.gradient_as_bucket_view = true;  // no copy of the averaged gradients
    ts::manual_seed(1);
    return std::make_shared<ts::dist::DistributedDataParallel>(make_mlp(), options, comm);
  };
  auto overlapped = make(true), serial = make(false);
  // The same all-reduces alone, back to back.
  std::vector<ts::Tensor> flats;
  const auto all = overlapped->module()->parameters();
  for (const auto& b : overlapped->bucket_assignment()) {
    int64_t numel = 0;
    for (size_t i : b) numel += all[i].numel();
    flats.push_back(ts::zeros({numel}));
  }
  std::vector<double> t_compute, t_serial, t_overlap, t_comm;
  for (int s = 0; s < steps + 2; ++s) {
    const bool keep = s >= 2;  // the first steps allocate
    const double c = step_time(*overlapped, x, y, false);
    const double a = step_time(*serial, x, y, true);
    const double o = step_time(*overlapped, x, y, true);
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = Clock::now();
    for (auto& f : flats) comm->all_reduce(f, ts::dist::ReduceOp::Avg);
    const double m = max_over_ranks(std::chrono::duration<double>(Clock::now() - t0).count());
    if (keep) {
      t_compute.push_back(c);
      t_serial.push_back(a);
      t_overlap.push_back(o);
      t_comm.push_back(m);
    }
  }
  const double compute = median(t_compute), serial_t = median(t_serial), overlap_t = median(t_overlap),
               comm_t = median(t_comm);
  const auto stats = overlapped->last_sync_stats();
  const int64_t params = overlapped->num_parameters();
  if (comm->rank() == 0) {
    const double exposed_serial = serial_t - compute, exposed_overlap = overlap_t - compute;
    const double hidden = exposed_serial > 0 ? 1.0 - exposed_overlap / exposed_serial : 0.0;
    std::printf("\nDDP step (forward + backward + gradient averaging), MLP 784-1024-1024-1024-10 (%.2fM params, "
                "%.1f MB of float32 gradients), batch 64 per rank, %d ranks, %d buckets of <= 2 MB (%d launched "
                "from backward hooks); median of %d interleaved steps, ms\n",
                static_cast<double>(params) / 1e6, static_cast<double>(params) * 4 / 1e6, comm->size(), stats.buckets,
                stats.launched_during_backward, steps);
    std::printf("  compute only (no_sync):        %8.2f\n", compute * 1e3);
    std::printf("  the all-reduces alone:         %8.2f\n", comm_t * 1e3);
    std::printf("  DDP, sync after backward:      %8.2f  (exposed communication %.2f)\n", serial_t * 1e3,
                exposed_serial * 1e3);
    std::printf("  DDP, overlapped buckets:       %8.2f  (exposed communication %.2f)\n", overlap_t * 1e3,
                exposed_overlap * 1e3);
    std::printf("  hidden fraction of communication: %.0f%%  (1 - exposed overlapped / exposed serial)\n",
                100.0 * hidden);
  }
}

int bench_main(int argc, char** argv) {
  const bench::Flags flags = bench::parse_flags(
      argc, argv,
      "usage: mpirun -np N bench_allreduce [--threads N]\n"
      "  all-reduce bus bandwidth of ts::dist vs MPI_Allreduce, and DDP step time with/without overlap\n");
  if (flags.threads > 0) ts::set_num_threads(flags.threads);
  auto comm = ts::dist::world();
  bench_allreduce(comm);
  bench_ddp(comm);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ts::dist::run(bench_main, argc, argv); }
