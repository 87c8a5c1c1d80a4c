// Every collective and point-to-point op on every dtype, contiguous or not, against values
// computed from the ranks' known inputs; and the argument errors.
#include "dist_test_util.h"

using namespace ts;


namespace {

const DType kAllTypes[] = {kFloat32, kFloat64, kFloat16, kBFloat16, kInt32, kInt64, kUInt8};

}  // namespace

TEST_CASE("dist: the world knows its rank and size", "[dist]") {
  auto w = test::world();
  CHECK(w->rank() == dist::rank());
  CHECK(w->size() == dist::world_size());
  CHECK(w->rank() >= 0);
  CHECK(w->rank() < w->size());
  CHECK(dist::is_initialized());
}

TEST_CASE("dist: all_reduce sum/avg/max/min for every dtype", "[dist]") {
  auto w = test::world();
  const int n = w->size(), r = w->rank();
  for (DType dt : kAllTypes) {
    INFO(dtype_name(dt));
    for (dist::ReduceOp op : {dist::ReduceOp::Sum, dist::ReduceOp::Avg, dist::ReduceOp::Max, dist::ReduceOp::Min}) {
      if (op == dist::ReduceOp::Avg && !is_floating_point(dt)) continue;
      INFO(dist::reduce_op_name(op));
      Tensor t = full({3, 2}, r + 1, TensorOptions(dt));
      w->all_reduce(t, op);
      CHECK(t.dtype() == dt);
      const double expected = op == dist::ReduceOp::Sum   ? n * (n + 1) / 2.0
                              : op == dist::ReduceOp::Avg ? (n + 1) / 2.0
                              : op == dist::ReduceOp::Max ? n
                                                    : 1.0;
      test::check_all(t, expected);
    }
  }
  // bool: max is "any", min is "all".
  Tensor any = full({4}, r == 0, TensorOptions(kBool));
  w->all_reduce(any, dist::ReduceOp::Max);
  test::check_all(any, 1);
  Tensor all = full({4}, r == 0, TensorOptions(kBool));
  w->all_reduce(all, dist::ReduceOp::Min);
  test::check_all(all, n == 1 ? 1 : 0);
}

TEST_CASE("dist: all_reduce of a non-contiguous view writes through to its base", "[dist]") {
  auto w = test::world();
  const int n = w->size(), r = w->rank();
  Tensor base = arange(12, TensorOptions(kFloat32)).view({3, 4}) * static_cast<double>(r + 1);
  Tensor view = base.t();  // strides (1, 4)
  REQUIRE_FALSE(view.is_contiguous());
  const uint64_t version = base._version();
  w->all_reduce(view, dist::ReduceOp::Sum);
  CHECK(base._version() > version);
  std::vector<double> expected;
  for (int i = 0; i < 12; ++i) expected.push_back(i * n * (n + 1) / 2.0);
  test::check_values(base.flatten(), expected);
  // A strided slice (every other element) in half precision.
  Tensor h = zeros({8}, TensorOptions(kFloat16));
  Tensor every_other = h.slice(0, 0, 8, 2);
  every_other.fill_(r + 1);
  w->all_reduce(every_other, dist::ReduceOp::Max);
  test::check_values(h, {double(n), 0, double(n), 0, double(n), 0, double(n), 0});
}

TEST_CASE("dist: broadcast from every root and dtype", "[dist]") {
  auto w = test::world();
  const int n = w->size(), r = w->rank();
  for (int root = 0; root < n; ++root) {
    for (DType dt : kAllTypes) {
      Tensor t = full({2, 5}, r * 10 + 3, TensorOptions(dt));
      w->broadcast(t, root);
      test::check_all(t, root * 10 + 3);
    }
  }
  Tensor base = zeros({4, 4});
  Tensor col = base.select(1, 2);  // non-contiguous
  col.fill_(r + 7);
  w->broadcast(col, n - 1);
  test::check_all(col, n - 1 + 7);
  test::check_all(base.select(1, 0), 0);
}

TEST_CASE("dist: all_gather concatenates along dim 0 in rank order", "[dist]") {
  auto w = test::world();
  const int n = w->size(), r = w->rank();
  for (DType dt : kAllTypes) {
    Tensor in = full({2, 3}, r + 1, TensorOptions(dt));
    Tensor out = zeros({2 * n, 3}, TensorOptions(dt));
    w->all_gather(in, out);
    for (int k = 0; k < n; ++k) test::check_all(out.narrow(0, 2 * k, 2), k + 1);
  }
  // 0-dim inputs gather into a vector; a non-contiguous out is filled through staging.
  Tensor scalar = full({}, r * 2, TensorOptions(kInt64));
  Tensor gathered = zeros({n}, TensorOptions(kInt64));
  w->all_gather(scalar, gathered);
  std::vector<double> expected;
  for (int k = 0; k < n; ++k) expected.push_back(2.0 * k);
  test::check_values(gathered, expected);
  Tensor wide = zeros({n, 2});
  Tensor first_col = wide.select(1, 0);
  w->all_gather(full({1}, r + 0.5), first_col);
  for (int k = 0; k < n; ++k) CHECK(wide[k][0].item<float>() == k + 0.5f);
  // in may be this rank's slice of out (the ZeRO pattern).
  Tensor buffer = zeros({2 * n});
  Tensor mine = buffer.narrow(0, 2 * r, 2);
  mine.fill_(r);
  w->all_gather(mine, buffer);
  for (int k = 0; k < n; ++k) test::check_all(buffer.narrow(0, 2 * k, 2), k);
}

TEST_CASE("dist: reduce_scatter gives each rank its block of the reduction", "[dist]") {
  auto w = test::world();
  const int n = w->size(), r = w->rank();
  for (DType dt : {kFloat32, kFloat64, kFloat16, kBFloat16, kInt32, kInt64}) {
    for (dist::ReduceOp op : {dist::ReduceOp::Sum, dist::ReduceOp::Avg, dist::ReduceOp::Max}) {
      if (op == dist::ReduceOp::Avg && !is_floating_point(dt)) continue;
      INFO(dtype_name(dt) << " " << dist::reduce_op_name(op));
      // in[i] = i + rank
      Tensor in = (arange(2 * n, TensorOptions(kFloat64)) + static_cast<double>(r)).to(dt).view({2 * n, 1});
      Tensor out = zeros({2, 1}, TensorOptions(dt));
      w->reduce_scatter(in, out, op);
      std::vector<double> expected;
      for (int i = 2 * r; i < 2 * r + 2; ++i) {
        const double sum = n * static_cast<double>(i) + n * (n - 1) / 2.0;
        expected.push_back(op == dist::ReduceOp::Sum ? sum : op == dist::ReduceOp::Avg ? sum / n : i + n - 1);
      }
      test::check_values(out.flatten(), expected);
    }
  }
}

TEST_CASE("dist: send/recv around a ring, blocking and not", "[dist]") {
  auto w = test::world();
  const int n = w->size(), r = w->rank();
  if (n == 1) return;  // no peer
  const int next = (r + 1) % n, prev = (r + n - 1) % n;
  for (DType dt : kAllTypes) {
    Tensor out = full({3, 4}, r + 1, TensorOptions(dt));
    Tensor in = zeros({3, 4}, TensorOptions(dt));
    auto recv = w->recv_async(in, prev, 5);
    w->send(out, next, 5);
    recv->wait();
    CHECK(recv->is_completed());
    test::check_all(in, prev + 1);
  }
  // Different tags keep messages apart; a non-contiguous destination is written through.
  Tensor a = full({4}, 100 + r), b = full({4}, 200 + r);
  auto s1 = w->send_async(a, next, 1);
  auto s2 = w->send_async(b, next, 2);
  Tensor base = zeros({4, 2});
  Tensor col = base.select(1, 1);
  Tensor other = zeros({2, 2});
  w->recv(other, prev, 2);  // tag 2 first although tag 1 was sent first
  w->recv(col, prev, 1);
  s1->wait();
  s2->wait();
  test::check_all(other, 200 + prev);
  test::check_all(col, 100 + prev);
  test::check_all(base.select(1, 0), 0);
  // A receive into a tensor of the wrong size is reported, not truncated.
  Tensor big = full({6}, 1.0);
  auto s3 = w->send_async(big, next, 3);
  Tensor small = zeros({5});
  const std::string msg = test::error_of([&] { w->recv(small, prev, 3); });
  INFO(msg);
  CHECK(!msg.empty());
  try {
    s3->wait();
  } catch (const ts::Error&) {
  }
}

TEST_CASE("dist: non-blocking collectives complete in issue order", "[dist]") {
  auto w = test::world();
  const int n = w->size(), r = w->rank();
  std::vector<Tensor> tensors;
  std::vector<dist::WorkPtr> works;
  for (int i = 0; i < 6; ++i) {
    tensors.push_back(full({1000}, (r + 1) * (i + 1), TensorOptions(kFloat64)));
    works.push_back(w->all_reduce_async(tensors.back(), dist::ReduceOp::Sum));
  }
  Tensor b = full({7}, r, TensorOptions(kInt32));
  works.push_back(w->broadcast_async(b, n - 1));
  // A blocking op issued now runs after the queued ones.
  Tensor c = full({2}, 1.0);
  w->all_reduce(c);
  test::check_all(c, n);
  for (auto& work : works) {
    work->wait();
    CHECK(work->is_completed());
  }
  for (int i = 0; i < 6; ++i) test::check_all(tensors[static_cast<size_t>(i)], (i + 1) * n * (n + 1) / 2.0);
  test::check_all(b, n - 1);
  w->barrier();
}

TEST_CASE("dist: misuse is a ts::Error naming the op and shapes", "[dist]") {
  auto w = test::world();
  const int n = w->size();
  Tensor in = zeros({2, 3});
  Tensor wrong = zeros({2 * n + 1, 3});
  std::string msg = test::error_of([&] { w->all_gather(in, wrong); });
  CHECK_THAT(msg, Catch::Contains("all_gather") && Catch::Contains(fmt::format("[{}, 3]", 2 * n + 1)) &&
                      Catch::Contains(fmt::format("[{}, 3]", 2 * n)));
  Tensor wrong_type = zeros({2 * n, 3}, TensorOptions(kFloat64));
  msg = test::error_of([&] { w->all_gather(in, wrong_type); });
  CHECK_THAT(msg, Catch::Contains("float64") && Catch::Contains("float32"));
  Tensor odd = zeros({2 * n + 1, 2});
  Tensor out = zeros({2, 2});
  if (n > 1) {
    msg = test::error_of([&] { w->reduce_scatter(odd, out); });
    CHECK_THAT(msg, Catch::Contains("reduce_scatter") && Catch::Contains("divisible"));
  }
  Tensor t = zeros({3});
  msg = test::error_of([&] { w->broadcast(t, n); });
  CHECK_THAT(msg, Catch::Contains("broadcast") && Catch::Contains("root") && Catch::Contains("out of range"));
  Tensor ints = zeros({3}, TensorOptions(kInt32));
  msg = test::error_of([&] { w->all_reduce(ints, dist::ReduceOp::Avg); });
  CHECK_THAT(msg, Catch::Contains("Avg") && Catch::Contains("int32"));
  msg = test::error_of([&] { w->send(t, -1); });
  CHECK_THAT(msg, Catch::Contains("send") && Catch::Contains("destination -1"));
  Tensor undefined;
  msg = test::error_of([&] { w->all_reduce(undefined); });
  CHECK_THAT(msg, Catch::Contains("undefined"));
  // Nothing above reached the transport: the ranks are still in step.
  w->barrier();
}
