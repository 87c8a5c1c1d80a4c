// GPipe and 1F1B over blocking send/recv. The communication is ordered so that blocking calls
// cannot deadlock even when messages are too large to be sent eagerly: in the 1F1B steady
// state a stage first receives the gradient from the next stage and then sends its new
// activation (send_forward_recv_backward), while the next stage sends that gradient first and
// then receives the activation (send_backward_recv_forward) -- the same pairing Megatron-LM
// builds from batched isend/irecv.
#include "tessera/dist/pipeline.h"

#include <chrono>

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/ops.h"

namespace ts::dist {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kActivationTag = 7100, kHeaderTag = 7101, kGradTag = 7102;
constexpr int64_t kMaxDims = 8;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

PipelineStage::PipelineStage(std::shared_ptr<Communicator> pp_group, std::function<Tensor(const Tensor&)> forward,
                             std::function<Tensor(const Tensor&, int64_t)> loss)
    : group_(std::move(pp_group)), forward_(std::move(forward)), loss_(std::move(loss)) {
  TS_CHECK(group_ != nullptr, "PipelineStage: the pipeline group is null");
  TS_CHECK(forward_ != nullptr, "PipelineStage: the stage's forward function is empty");
  TS_CHECK(!is_last() || loss_ != nullptr, "PipelineStage: the last stage needs a loss function");
}

// An activation is preceded by a header (dtype, rank, dims) so stages need not know each
// other's shapes.
void PipelineStage::send_forward(const Tensor& activation) {
  TS_CHECK(activation.dim() <= kMaxDims, "PipelineStage: activations of rank {} > {} are not supported",
           activation.dim(), kMaxDims);
  std::vector<int64_t> header(kMaxDims + 2, 0);
  header[0] = static_cast<int64_t>(activation.dtype());
  header[1] = activation.dim();
  for (int64_t d = 0; d < activation.dim(); ++d) header[static_cast<size_t>(d + 2)] = activation.size(d);
  group_->send(tensor(header, {kMaxDims + 2}, kInt64), group_->rank() + 1, kHeaderTag);
  group_->send(activation.detach().contiguous(), group_->rank() + 1, kActivationTag);
}

Tensor PipelineStage::recv_forward() {
  Tensor header = empty({kMaxDims + 2}, kInt64);
  group_->recv(header, group_->rank() - 1, kHeaderTag);
  const auto h = header.to_vector<int64_t>();
  Shape shape(h.begin() + 2, h.begin() + 2 + h[1]);
  Tensor activation = empty(shape, static_cast<DType>(h[0]));
  group_->recv(activation, group_->rank() - 1, kActivationTag);
  return activation.requires_grad_(activation.is_floating_point());
}

Tensor PipelineStage::recv_backward(const Slot& slot) {
  Tensor grad = empty(slot.output.shape(), slot.output.dtype());
  group_->recv(grad, group_->rank() + 1, kGradTag);
  return grad;
}

void PipelineStage::send_backward(const Tensor& grad) { group_->send(grad.contiguous(), group_->rank() - 1, kGradTag); }

void PipelineStage::forward_step(Slot& slot, int64_t micro, int64_t count) {
  const auto t0 = Clock::now();
  slot.output = forward_(slot.input);
  if (is_last()) {
    const Tensor loss = loss_(slot.output, micro);
    TS_CHECK(loss.numel() == 1, "PipelineStage: the loss of micro-batch {} must be a scalar but has shape {}", micro,
             shape_str(loss.shape()));
    loss_sum_ += loss.item<double>();
    slot.output = loss / static_cast<double>(count);  // the mean over micro-batches
  }
  stats_.compute_seconds += seconds_since(t0);
}

// Backpropagates through this stage (from the loss, or from the next stage's gradient) and
// returns the gradient of the stage input (undefined on the first stage).
Tensor PipelineStage::backward_step(Slot& slot) {
  const Tensor grad_out = is_last() ? Tensor() : recv_backward(slot);
  const auto t0 = Clock::now();
  if (slot.output.requires_grad()) slot.output.backward(grad_out);
  Tensor grad_in = is_first() ? Tensor() : slot.input.grad();
  if (!is_first() && !grad_in.defined()) grad_in = zeros_like(slot.input);
  slot = Slot{};  // frees the micro-batch's activations and graph
  stats_.compute_seconds += seconds_since(t0);
  return grad_in;
}

double PipelineStage::run(const std::vector<Tensor>& inputs, PipelineSchedule schedule) {
  TS_CHECK(!inputs.empty(), "PipelineStage::run: no micro-batches");
  stats_ = PipelineStats{};
  loss_sum_ = 0;
  const auto t0 = Clock::now();
  std::vector<Slot> slots(inputs.size());
  if (schedule == PipelineSchedule::GPipe) {
    run_gpipe(slots, inputs);
  } else {
    run_1f1b(slots, inputs);
  }
  stats_.wall_seconds = seconds_since(t0);
  // Every stage reports the mean loss, which only the last stage computed.
  Tensor mean_loss = scalar_tensor(loss_sum_ / static_cast<double>(inputs.size()), kFloat64);
  group_->broadcast(mean_loss, group_->size() - 1);
  return mean_loss.item<double>();
}

double PipelineStage::evaluate(const std::vector<Tensor>& inputs) {
  TS_CHECK(!inputs.empty(), "PipelineStage::evaluate: no micro-batches");
  NoGradGuard no_grad;
  double loss_sum = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor out = forward_(is_first() ? inputs[i] : recv_forward());
    if (is_last()) {
      loss_sum += loss_(out, static_cast<int64_t>(i)).item<double>();
    } else {
      send_forward(out);
    }
  }
  Tensor mean_loss = scalar_tensor(loss_sum / static_cast<double>(inputs.size()), kFloat64);
  group_->broadcast(mean_loss, group_->size() - 1);
  return mean_loss.item<double>();
}

void PipelineStage::run_gpipe(std::vector<Slot>& slots, const std::vector<Tensor>& inputs) {
  const int64_t m = static_cast<int64_t>(inputs.size());
  for (int64_t i = 0; i < m; ++i) {
    auto& s = slots[static_cast<size_t>(i)];
    s.input = is_first() ? inputs[static_cast<size_t>(i)] : recv_forward();
    forward_step(s, i, m);
    if (!is_last()) send_forward(s.output);
  }
  for (int64_t i = 0; i < m; ++i) {
    const Tensor g = backward_step(slots[static_cast<size_t>(i)]);
    if (!is_first()) send_backward(g);
  }
}

void PipelineStage::run_1f1b(std::vector<Slot>& slots, const std::vector<Tensor>& inputs) {
  const int64_t m = static_cast<int64_t>(inputs.size());
  const int64_t warmup = std::min<int64_t>(group_->size() - group_->rank() - 1, m), steady = m - warmup;
  int64_t next_forward = 0, next_backward = 0;
  auto input_of = [&](int64_t i) { return is_first() ? inputs[static_cast<size_t>(i)] : recv_forward(); };
  for (; next_forward < warmup; ++next_forward) {
    auto& s = slots[static_cast<size_t>(next_forward)];
    s.input = input_of(next_forward);
    forward_step(s, next_forward, m);
    if (!is_last()) send_forward(s.output);
  }
  Tensor pending_input = steady > 0 ? input_of(next_forward) : Tensor();
  for (int64_t i = 0; i < steady; ++i, ++next_forward, ++next_backward) {
    auto& s = slots[static_cast<size_t>(next_forward)];
    s.input = pending_input;
    forward_step(s, next_forward, m);
    // send_forward_recv_backward: the gradient for the oldest micro-batch comes first.
    auto& b = slots[static_cast<size_t>(next_backward)];
    Tensor grad_out;
    if (!is_last()) {
      grad_out = recv_backward(b);
      send_forward(s.output);
    }
    const auto t0 = Clock::now();
    if (b.output.requires_grad()) b.output.backward(grad_out);
    Tensor grad_in = is_first() ? Tensor() : (b.input.grad().defined() ? b.input.grad() : zeros_like(b.input));
    b = Slot{};
    stats_.compute_seconds += seconds_since(t0);
    // send_backward_recv_forward: the gradient goes out before the next activation comes in.
    if (!is_first()) send_backward(grad_in);
    if (i + 1 < steady) pending_input = input_of(next_forward + 1);
  }
  for (; next_backward < m; ++next_backward) {
    const Tensor g = backward_step(slots[static_cast<size_t>(next_backward)]);
    if (!is_first()) send_backward(g);
  }
}

}  // namespace ts::dist
