// nn::Module: registration, dotted names through nested containers, train/eval, in-place
// to(dtype), zero_grad, state_dict round trips, strict-load errors and printing.
#include "nn/nn_test_util.h"

using namespace ts;
using Catch::Contains;

namespace {

/// A ResNet-style block, so names come out as "layer1.0.conv1.weight".
struct Block : nn::UnaryModule {
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  Block() : nn::UnaryModule("Block") {
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 2, 3).padding(1).bias(false)));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(2));
  }
  Tensor forward(const Tensor& x) override { return relu(bn1->forward(conv1->forward(x))) + x; }
};

struct Net : nn::Module {
  std::shared_ptr<nn::Conv2d> stem;
  std::shared_ptr<nn::Sequential> layer1;
  std::shared_ptr<nn::ModuleList> heads;
  Tensor scale;
  Net() {
    stem = register_module("stem", std::make_shared<nn::Conv2d>(1, 2, 3, 1, 1));
    layer1 = register_module("layer1", std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{
                                           std::make_shared<Block>(), std::make_shared<Block>()}));
    heads = register_module("heads", std::make_shared<nn::ModuleList>());
    heads->push_back(std::make_shared<nn::Linear>(2, 3));
    heads->push_back(std::make_shared<nn::Linear>(2, 1, false));
    scale = register_parameter("scale", ones({1}));
  }
  Tensor forward(const Tensor& x) {
    Tensor h = layer1->forward(stem->forward(x)).mean({2, 3}) * scale;
    return heads->at<nn::Linear>(0)->forward(h);
  }
};

std::vector<std::string> names_of(const nn::NamedTensors& items) {
  std::vector<std::string> out;
  for (const auto& [n, t] : items) out.push_back(n);
  return out;
}

}  // namespace

TEST_CASE("Module: named_parameters and named_buffers use dotted names through nested containers",
          "[nn-module]") {
  Net net;
  CHECK(net.name() == "Net");  // demangled from the C++ type
  const std::vector<std::string> params{"scale",
                                        "stem.weight",
                                        "stem.bias",
                                        "layer1.0.conv1.weight",
                                        "layer1.0.bn1.weight",
                                        "layer1.0.bn1.bias",
                                        "layer1.1.conv1.weight",
                                        "layer1.1.bn1.weight",
                                        "layer1.1.bn1.bias",
                                        "heads.0.weight",
                                        "heads.0.bias",
                                        "heads.1.weight"};
  CHECK(names_of(net.named_parameters()) == params);
  CHECK(net.parameters().size() == params.size());
  CHECK(names_of(net.named_buffers()) ==
        std::vector<std::string>{"layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
                                 "layer1.0.bn1.num_batches_tracked", "layer1.1.bn1.running_mean",
                                 "layer1.1.bn1.running_var", "layer1.1.bn1.num_batches_tracked"});
  CHECK(net.buffers().size() == 6);
  CHECK(names_of(net.named_parameters(/*recurse=*/false)) == std::vector<std::string>{"scale"});
  CHECK(net.named_buffers(false).empty());

  // Handles returned at registration are the registered tensors, not copies.
  CHECK(net.named_parameters()[1].second.is_same(net.stem->weight));
  CHECK(net.layer1->at<Block>(1)->bn1->running_var.is_same(net.named_buffers()[4].second));

  std::vector<std::string> child_names;
  for (const auto& [n, c] : net.named_children()) child_names.push_back(n);
  CHECK(child_names == std::vector<std::string>{"stem", "layer1", "heads"});
  CHECK(net.children().size() == 3);
  CHECK(net.children()[1] == net.layer1);

  auto shared = std::make_shared<Net>();
  std::vector<std::string> module_names;
  for (const auto& [n, m] : shared->named_modules()) module_names.push_back(n + ":" + m->name());
  CHECK(module_names == std::vector<std::string>{":Net", "stem:Conv2d", "layer1:Sequential", "layer1.0:Block",
                                                 "layer1.0.conv1:Conv2d", "layer1.0.bn1:BatchNorm2d",
                                                 "layer1.1:Block", "layer1.1.conv1:Conv2d", "layer1.1.bn1:BatchNorm2d",
                                                 "heads:ModuleList", "heads.0:Linear", "heads.1:Linear"});
  CHECK(shared->modules().size() == 12);
  CHECK(shared->modules()[0] == shared);
  CHECK(net.modules(/*include_self=*/false).size() == 11);
  REQUIRE_THROWS_WITH(net.modules(), Contains("not owned by a std::shared_ptr"));

  CHECK(net.num_parameters() == 1 + (18 + 2) + 2 * (36 + 2 + 2) + (6 + 3) + 2);
}

TEST_CASE("Module: parameters are leaves that require grad; buffers never require grad", "[nn-module]") {
  nn::Module m("Custom");
  const Tensor base = ones({3}).requires_grad_();
  const Tensor w = m.register_parameter("w", base * 2.0);  // has history: detached into a leaf
  CHECK(w.is_leaf());
  CHECK(w.requires_grad());
  const Tensor frozen = m.register_parameter("frozen", zeros({2}), /*requires_grad=*/false);
  CHECK_FALSE(frozen.requires_grad());
  const Tensor buf = m.register_buffer("buf", base * 3.0);
  CHECK_FALSE(buf.requires_grad());
  CHECK(m.num_parameters() == 5);
  CHECK(m.num_parameters(/*only_trainable=*/true) == 3);
  CHECK(m.str() == "Custom()  # 5 params (3 trainable)");
}

TEST_CASE("Module: registration errors name the module and the offending name", "[nn-module]") {
  nn::Module m("Custom");
  m.register_parameter("w", zeros({2}));
  REQUIRE_THROWS_WITH(m.register_parameter("w", zeros({2})), Contains("'w' is already registered in Custom"));
  REQUIRE_THROWS_WITH(m.register_buffer("w", zeros({2})), Contains("register_buffer: 'w' is already registered"));
  REQUIRE_THROWS_WITH(m.register_module("w", std::make_shared<nn::ReLU>()), Contains("already registered"));
  REQUIRE_THROWS_WITH(m.register_parameter("a.b", zeros({2})), Contains("must not contain '.'"));
  REQUIRE_THROWS_WITH(m.register_parameter("", zeros({2})), Contains("must not be empty"));
  REQUIRE_THROWS_WITH(m.register_parameter("u", Tensor()), Contains("'u' of Custom is an undefined tensor"));
  REQUIRE_THROWS_WITH(m.register_parameter("i", zeros({2}, kInt64)),
                      Contains("only floating-point tensors can require grad"));
  REQUIRE_THROWS_WITH(m.register_module("null", std::shared_ptr<nn::Linear>()), Contains("'null' of Custom is null"));
  REQUIRE_THROWS_WITH(m.replace_module("nope", std::make_shared<nn::ReLU>()), Contains("no submodule named 'nope'"));
  // An integer parameter that does not require grad is allowed (e.g. a step counter).
  CHECK(m.register_parameter("steps", zeros({}, kInt64), false).dtype() == kInt64);
}

TEST_CASE("Module: train() and eval() propagate to every descendant", "[nn-module]") {
  auto net = std::make_shared<Net>();
  for (const auto& m : net->modules()) CHECK(m->is_training());
  net->eval();
  for (const auto& m : net->modules()) CHECK_FALSE(m->is_training());
  net->layer1->train();
  CHECK_FALSE(net->is_training());
  CHECK(net->layer1->at<Block>(0)->bn1->is_training());
  CHECK_FALSE(net->stem->is_training());
}

TEST_CASE("Module: to(dtype) converts in place, keeping handles, leaves and integer buffers", "[nn-module]") {
  Net net;
  const std::vector<Tensor> held = net.parameters();  // what an optimizer would keep
  const Tensor stem_w = net.stem->weight;
  Tensor out32 = net.forward(test::det({2, 1, 5, 5}));
  out32.sum().backward();
  REQUIRE(net.stem->weight.grad().defined());

  net.to(kFloat64);
  for (size_t i = 0; i < held.size(); ++i) {
    CHECK(held[i].dtype() == kFloat64);
    CHECK(held[i].is_leaf());
    CHECK(held[i].requires_grad());
  }
  CHECK(stem_w.is_same(net.stem->weight));
  CHECK(net.stem->weight.grad().dtype() == kFloat64);  // gradients move along
  const auto bn = net.layer1->at<Block>(0)->bn1;
  CHECK(bn->running_mean.dtype() == kFloat64);
  CHECK(bn->num_batches_tracked.dtype() == kInt64);
  const Tensor out64 = net.forward(test::det({2, 1, 5, 5}, 0.0, 1.0, kFloat64));
  CHECK(out64.dtype() == kFloat64);
  // The float64 result agrees with the float32 one (the BN running stats moved meanwhile, but
  // training-mode outputs use batch statistics).
  test::require_close(out64, out32.detach(), 1e-4, 1e-5);
  out64.sum().backward();
  CHECK(held[1].grad().dtype() == kFloat64);

  net.to(Device(kCPU));  // already there: a no-op
  CHECK(stem_w.dtype() == kFloat64);
  REQUIRE_THROWS_WITH(net.to(kInt32), Contains("can only be converted to a floating-point dtype"));
}

TEST_CASE("Module: zero_grad clears or zeroes every gradient", "[nn-module]") {
  nn::Linear fc(3, 2);
  fc.forward(ones({4, 3})).sum().backward();
  REQUIRE(fc.weight.grad().defined());
  fc.zero_grad(/*set_to_none=*/false);
  REQUIRE(fc.weight.grad().defined());
  test::require_values(fc.weight.grad(), std::vector<double>(6, 0.0), 0.0);
  test::require_values(fc.bias.grad(), {0.0, 0.0}, 0.0);
  fc.zero_grad();
  CHECK_FALSE(fc.weight.grad().defined());
  CHECK_FALSE(fc.bias.grad().defined());
}

TEST_CASE("Module: state_dict holds parameters and buffers in PyTorch's order and round-trips", "[nn-module]") {
  nn::Sequential seq({std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::BatchNorm1d>(4),
                      std::make_shared<nn::Linear>(4, 2)});
  const StateDict sd = seq.state_dict();
  CHECK(sd.keys() == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                              "1.running_var", "1.num_batches_tracked", "2.weight", "2.bias"});
  // Aliases (no copy) that do not require grad, like PyTorch's.
  CHECK(sd.at("0.weight").storage() == seq.at<nn::Linear>(0)->weight.storage());
  CHECK_FALSE(sd.at("0.weight").requires_grad());

  const Tensor x = test::det({5, 3});
  seq.forward(x);  // a training step moves the running stats and the batch counter
  seq.eval();
  const Tensor expected = seq.forward(x);

  // Snapshot, then load into a differently initialized copy.
  StateDict snapshot;
  for (const auto& [k, v] : seq.state_dict()) snapshot.insert(k, v.clone());
  nn::Sequential other({std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::BatchNorm1d>(4),
                        std::make_shared<nn::Linear>(4, 2)});
  other.eval();
  const Tensor w_handle = other.at<nn::Linear>(0)->weight;
  CHECK_FALSE(allclose(other.forward(x), expected));
  const auto result = other.load_state_dict(snapshot);
  CHECK(result.missing_keys.empty());
  CHECK(result.unexpected_keys.empty());
  test::require_close(other.forward(x), expected, 0.0, 0.0);
  CHECK(w_handle.is_same(other.at<nn::Linear>(0)->weight));  // loaded in place
  CHECK(w_handle.requires_grad());
  CHECK(w_handle.is_leaf());
  CHECK(other.at<nn::BatchNorm1d>(1)->num_batches_tracked.item<int64_t>() == 1);

  // The loaded values are copies: changing the source afterwards leaves `other` alone.
  {
    NoGradGuard g;
    seq.at<nn::Linear>(0)->weight.add_(1.0);
  }
  test::require_close(other.forward(x), expected, 0.0, 0.0);

  // A float64 state dict loads into a float32 model (values converted).
  StateDict sd64;
  for (const auto& [k, v] : snapshot) sd64.insert(k, v.is_floating_point() ? v.to(kFloat64) : v);
  nn::Sequential third({std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::BatchNorm1d>(4),
                        std::make_shared<nn::Linear>(4, 2)});
  third.load_state_dict(sd64);
  third.eval();
  CHECK(third.at<nn::Linear>(0)->weight.dtype() == kFloat32);
  test::require_close(third.forward(x), expected, 1e-6, 1e-7);
}

TEST_CASE("Module: strict load_state_dict lists every missing, unexpected and mismatched key at once",
          "[nn-module]") {
  nn::Sequential seq({std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::BatchNorm1d>(4)});
  StateDict sd = seq.state_dict();
  StateDict bad;
  for (const auto& [k, v] : sd)
    if (k != "0.bias" && k != "1.running_var") bad.insert(k, v.clone());
  bad.insert("0.weight", zeros({4, 5}));  // replaces the entry: shape mismatch
  bad.insert("2.weight", zeros({1}));
  bad.insert("extra", zeros({1}));
  const Tensor before = seq.at<nn::Linear>(0)->weight.clone();

  try {
    seq.load_state_dict(bad);
    FAIL("load_state_dict accepted a bad state dict");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Contains("load_state_dict") && Contains("Sequential"));
    CHECK_THAT(msg, Contains("missing keys (2): 0.bias, 1.running_var"));
    CHECK_THAT(msg, Contains("unexpected keys (2): 2.weight, extra"));
    CHECK_THAT(msg, Contains("shape mismatches (1): 0.weight: shape [4, 5] in the state dict, [4, 3] in the model"));
  }
  // Nothing was written by the failed load.
  test::require_close(seq.at<nn::Linear>(0)->weight, before, 0.0, 0.0);

  // Non-strict: missing/unexpected keys are reported, the rest is loaded...
  StateDict partial;
  partial.insert("0.weight", full({4, 3}, 0.5));
  partial.insert("extra", zeros({1}));
  const auto result = seq.load_state_dict(partial, /*strict=*/false);
  CHECK(result.unexpected_keys == std::vector<std::string>{"extra"});
  CHECK(result.missing_keys.size() == sd.size() - 1);
  test::require_values(seq.at<nn::Linear>(0)->weight, std::vector<double>(12, 0.5), 0.0);
  // ...but a shape mismatch is still an error.
  StateDict wrong;
  wrong.insert("1.weight", zeros({5}));
  REQUIRE_THROWS_WITH(seq.load_state_dict(wrong, false), Contains("1.weight: shape [5] in the state dict, [4]"));
}

TEST_CASE("Module: a tensor registered twice (tied weights) is one parameter but two state_dict keys",
          "[nn-module]") {
  nn::Module tied("Tied");
  auto e = tied.register_module("emb", std::make_shared<nn::Embedding>(5, 3));
  auto holder = tied.register_module("head", std::make_shared<nn::Module>("Head"));
  holder->register_parameter("weight", e->weight);
  CHECK(names_of(tied.named_parameters()) == std::vector<std::string>{"emb.weight"});
  CHECK(tied.num_parameters() == 15);
  CHECK(tied.state_dict().keys() == std::vector<std::string>{"emb.weight", "head.weight"});
  // Both keys are expected back, and loading them is consistent.
  StateDict sd;
  sd.insert("emb.weight", full({5, 3}, 2.0));
  sd.insert("head.weight", full({5, 3}, 2.0));
  tied.load_state_dict(sd);
  test::require_values(e->weight, std::vector<double>(15, 2.0), 0.0);
}

TEST_CASE("Module: printing shows the tree like PyTorch plus parameter counts", "[nn-module]") {
  nn::Sequential seq({std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>(),
                      std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{
                          std::make_shared<nn::Linear>(3, 2), std::make_shared<nn::Dropout>(0.5)})});
  const std::string expected =
      "Sequential(\n"
      "  (0): Linear(in_features=4, out_features=3, bias=True)  # 15 params\n"
      "  (1): ReLU()\n"
      "  (2): Sequential(\n"
      "    (0): Linear(in_features=3, out_features=2, bias=True)  # 8 params\n"
      "    (1): Dropout(p=0.5, inplace=False)\n"
      "  )  # 8 params\n"
      ")  # 23 params";
  CHECK(seq.str() == expected);
  std::ostringstream os;
  os << seq;
  CHECK(os.str() == expected);
  std::ostringstream line;
  seq.at<nn::Linear>(0)->pretty_print(line);
  CHECK(line.str() == "Linear(in_features=4, out_features=3, bias=True)");

  nn::Linear big(1000, 1000);
  CHECK(big.str() == "Linear(in_features=1000, out_features=1000, bias=True)  # 1,001,000 params");
}

TEST_CASE("Module: apply visits children first, then the module", "[nn-module]") {
  auto net = std::make_shared<Net>();
  std::vector<std::string> order;
  net->apply([&](nn::Module& m) { order.push_back(m.name()); });
  CHECK(order.size() == 12);
  CHECK(order.front() == "Conv2d");
  CHECK(order.back() == "Net");
  // A typical use: custom initialization of every Linear.
  net->apply([](nn::Module& m) {
    if (auto* fc = dynamic_cast<nn::Linear*>(&m)) nn::init::zeros_(fc->weight);
  });
  test::require_values(net->heads->at<nn::Linear>(0)->weight, std::vector<double>(6, 0.0), 0.0);
}

TEST_CASE("Sequential, ModuleList and ModuleDict: indexing, typed access and errors", "[nn-module]") {
  nn::Sequential seq;
  CHECK(seq.empty());
  seq.push_back(std::make_shared<nn::Linear>(2, 2));
  seq.push_back("act", std::make_shared<nn::Tanh>());
  CHECK(seq.size() == 2);
  CHECK(names_of(seq.named_parameters()) == std::vector<std::string>{"0.weight", "0.bias"});
  CHECK(seq.named_children()[1].first == "act");
  CHECK(seq[1]->name() == "Tanh");
  REQUIRE_THROWS_WITH(seq.at<nn::Linear>(1), Contains("Sequential: entry 1 is a Tanh"));
  REQUIRE_THROWS_WITH(seq[2], Contains("index 2 is out of range for a Sequential of 2 modules"));
  REQUIRE_THROWS_WITH(seq.replace_module("act", std::make_shared<nn::ModuleList>()),
                      Contains("not a UnaryModule"));

  // Sequential's forward chains its modules; replace_module swaps one in place.
  const Tensor x = test::det({3, 2});
  auto fc = seq.at<nn::Linear>(0);
  test::require_close(seq.forward(x), tanh(fc->forward(x)));
  seq.replace_module("act", std::make_shared<nn::Sigmoid>());
  test::require_close(seq(x), sigmoid(fc->forward(x)));
  nn::Sequential named({{"fc", std::make_shared<nn::Linear>(2, 3)}, {"act", std::make_shared<nn::ReLU>()}});
  CHECK(names_of(named.named_parameters()) == std::vector<std::string>{"fc.weight", "fc.bias"});

  nn::ModuleList list({std::make_shared<nn::Linear>(2, 2), std::make_shared<nn::ReLU>()});
  list.push_back(std::make_shared<nn::Linear>(2, 1));
  CHECK(list.size() == 3);
  CHECK(names_of(list.named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  CHECK(list.at<nn::Linear>(2)->out_features() == 1);
  REQUIRE_THROWS_WITH(list[3], Contains("ModuleList: index 3 is out of range"));
  size_t count = 0;
  for (const auto& m : list) count += m != nullptr;
  CHECK(count == 3);
  list.replace_module("1", std::make_shared<nn::GELU>());
  CHECK(list[1]->name() == "GELU");

  nn::ModuleDict dict({{"encoder", std::make_shared<nn::Linear>(4, 2)}});
  dict.insert("decoder", std::make_shared<nn::Linear>(2, 4));
  CHECK(dict.keys() == std::vector<std::string>{"encoder", "decoder"});
  CHECK(dict.contains("decoder"));
  CHECK_FALSE(dict.contains("nope"));
  CHECK(dict.at<nn::Linear>("decoder")->out_features() == 4);
  CHECK(names_of(dict.named_parameters()).front() == "encoder.weight");
  REQUIRE_THROWS_WITH(dict["nope"], Contains("no module named 'nope' (keys: encoder, decoder)"));
  REQUIRE_THROWS_WITH(dict.insert("encoder", std::make_shared<nn::ReLU>()), Contains("already registered"));
}
