"""The model zoo: shapes, gradients, learning on a tiny dataset, config round trips, naming;
and a smoke run of scripts/bench_nets.py."""

import json

import numpy as np
import pytest

import nets
from nets import zoo

from tolerance import assert_close_f32, forward_reduction_length

# Small widths where a model has them, so that the whole file stays fast.
MODELS = {
    "two_layer_mlp": lambda rng, **kw: zoo.two_layer_mlp(rng=rng, **kw),
    "mlp": lambda rng, **kw: zoo.mlp(rng=rng, hidden=(40, 30), **kw),
    "mlp_bn_dropout": lambda rng, **kw: zoo.mlp(rng=rng, hidden=(40, 30), batchnorm=True,
                                                dropout=0.2, **kw),
    "simple_conv_net": lambda rng, **kw: zoo.simple_conv_net(rng=rng, filters=8, hidden=32,
                                                             **kw),
    "deep_conv_net": lambda rng, **kw: zoo.deep_conv_net(rng=rng, **kw),
    "lenet5": lambda rng, **kw: zoo.lenet5(rng=rng, **kw),
    "alexnet_small": lambda rng, **kw: zoo.alexnet_small(rng=rng, widths=(8, 16, 16, 16, 16),
                                                         hidden=32, **kw),
    "inception_small": lambda rng, **kw: zoo.inception_small(rng=rng, **kw),
    "resnet_small": lambda rng, **kw: zoo.resnet_small(rng=rng, widths=(8, 16, 16), **kw),
}
CONV_LAYERS = ("Conv2D", "ConvReLUPool")


def tiny_dataset(n: int = 16, num_classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """n images of 28x28 with a bright square whose position depends on the label."""
    rng = np.random.default_rng(123)
    labels = np.arange(n) % num_classes
    x = 0.1 * rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 2)
        x[i, 0, 4 + 12 * row : 12 + 12 * row, 4 + 12 * col : 12 + 12 * col] += 1.0
    return x, labels


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_shapes_and_gradients(name):
    model = MODELS[name](np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32)
    out = model.forward(x, train=True)
    assert out.shape == (3, 10)
    assert out.dtype == np.float32
    dx = model.backward(np.random.default_rng(2).standard_normal(out.shape).astype(np.float32))
    assert dx is None  # input_grad=False by default: the images need no gradient
    for param_name, grad in model.named_grads():
        assert np.all(np.isfinite(grad)), param_name
        assert np.any(grad != 0), f"{param_name} got no gradient"


@pytest.mark.parametrize("name", ["simple_conv_net", "lenet5", "resnet_small"])
def test_input_gradient_when_asked(name):
    model = MODELS[name](np.random.default_rng(0))
    model.input_grad = True
    x = np.random.default_rng(1).standard_normal((2, 1, 28, 28)).astype(np.float32)
    out = model.forward(x, train=True)
    dx = model.backward(np.ones_like(out))
    assert dx.shape == x.shape
    assert np.any(dx != 0)


@pytest.mark.parametrize("name", MODELS)
def test_a_few_adam_steps_learn_a_tiny_dataset(name):
    # Four classes and four-way models: a loss well under log(4), the loss of the best
    # constant guess, means the model learned the images, not just the class frequencies.
    x, labels = tiny_dataset(num_classes=4)
    model = MODELS[name](np.random.default_rng(0), num_classes=4)
    loss = nets.losses.SoftmaxCrossEntropy()
    optimizer = nets.optim.Adam(lr=3e-3)
    before = loss.forward(model.predict(x), labels)
    for _ in range(40):
        loss.forward(model.forward(x, train=True), labels)
        model.backward(loss.backward())
        optimizer.update(model.trainable_params(), model.trainable_grads())
    after = loss.forward(model.predict(x), labels)
    assert after < 0.5 * np.log(4) and after < 0.5 * before, (before, after)


@pytest.mark.parametrize("name", MODELS)
def test_config_build_round_trip_rebuilds_an_identical_model(name):
    model = MODELS[name](np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, 1, 28, 28)).astype(np.float32)
    model.forward(x, train=True)  # moves BatchNorm running statistics off their start
    config = json.loads(json.dumps(model.config()))
    rebuilt = nets.build(config)
    assert rebuilt.config() == model.config()
    assert [n for n, _ in rebuilt.named_params()] == [n for n, _ in model.named_params()]
    rebuilt.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(rebuilt.predict(x), model.predict(x))


@pytest.mark.parametrize("name", MODELS)
def test_conv_and_dense_names_allow_freezing_the_features(name):
    model = MODELS[name](np.random.default_rng(0))
    for top_name, layer in model.layers:
        kinds = {type(leaf).__name__ for _, leaf in
                 (layer.named_leaves() if isinstance(layer, nets.Model) else [("", layer)])}
        if kinds & set(CONV_LAYERS):
            assert top_name.startswith("conv"), top_name
        if isinstance(layer, nets.Dense):
            assert top_name.startswith("fc"), top_name
    has_conv = any(type(leaf).__name__ in CONV_LAYERS for _, leaf in model.named_leaves())
    if has_conv:
        model.freeze(["conv"])
        trainable = model.trainable_params()
        assert trainable and all(not key.startswith("conv") for key in trainable)
        assert any(key.startswith("fc") for key in trainable)


def test_mlps_accept_flat_and_image_inputs_alike():
    model = zoo.mlp(rng=np.random.default_rng(0), hidden=(20,))
    x = np.random.default_rng(1).standard_normal((5, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x), model.predict(x.reshape(5, 784)))


def test_mlp_options_build_the_layers_they_name():
    model = zoo.mlp(rng=np.random.default_rng(0), hidden=(20, 10), activation="tanh",
                    batchnorm=True, dropout=0.3, num_classes=3, input_shape=(2, 4, 4))
    kinds = [type(layer).__name__ for _, layer in model.layers]
    assert kinds == ["Dense", "BatchNorm", "Tanh", "Dropout"] * 2 + ["Dense"]
    assert model.predict(np.zeros((2, 32), np.float32)).shape == (2, 3)
    with pytest.raises(ValueError, match="activation"):
        zoo.mlp(activation="swish")


def test_same_seed_same_model_other_seed_other_model():
    first = zoo.simple_conv_net(rng=np.random.default_rng(5)).state_dict()
    second = zoo.simple_conv_net(rng=np.random.default_rng(5)).state_dict()
    third = zoo.simple_conv_net(rng=np.random.default_rng(6)).state_dict()
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert not np.array_equal(first["conv1.W"], third["conv1.W"])


def test_models_take_other_input_shapes_and_class_counts():
    x = np.zeros((2, 3, 32, 32), np.float32)
    for build in (zoo.simple_conv_net, zoo.deep_conv_net, zoo.lenet5, zoo.resnet_small):
        model = build(input_shape=(3, 32, 32), num_classes=7, rng=np.random.default_rng(0))
        assert model.predict(x).shape == (2, 7), build.__name__


def test_bench_script_quick_run_prints_one_json_object(capsys):
    from scripts import bench_nets

    assert bench_nets.main(["--quick", "--no-torch", "--networks", "dqn_cnn"]) == 0
    report = json.loads(capsys.readouterr().out)
    figures = report["networks"]["dqn_cnn"]
    assert figures["train_step_ms"] > 0 and figures["act_latency_us"] > 0
    assert figures["params"] == 6 * 32 * 9 + 32 + 32 * 64 * 9 + 64 + 14080 * 256 + 256 + 1285
    assert report["torch"] is None


def test_bench_script_rejects_bad_values(capsys):
    from scripts import bench_nets

    assert bench_nets.main(["--repeats", "0"]) == 2
    assert "--repeats" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("in_channels", "filters", "size", "kernel", "stride", "padding", "pool"),
    [(1, 4, 9, 3, 1, 0, 2),  # odd conv output (7): the last row/column is dropped by pooling
     (2, 4, 11, 3, 2, 1, 2),  # strided convolution
     (3, 4, 10, 2, 1, 1, 3),  # 3x3 pooling
     (2, 4, 8, 5, 1, 2, 2),
     # filters >= C*KH*KW: the layer builds its im2col columns grouped by window offset
     (1, 8, 10, 2, 1, 0, 2), (1, 12, 11, 3, 2, 1, 2), (1, 6, 10, 2, 1, 1, 3)],
)
def test_fused_conv_relu_pool_equals_the_three_layers_also_with_ties(
        in_channels, filters, size, kernel, stride, padding, pool):
    rng = np.random.default_rng(7)
    fused = nets.ConvReLUPool(in_channels, filters, kernel, stride, padding, pool_size=pool,
                              rng=rng)
    assert fused.grouped_columns == (in_channels * kernel**2 <= filters)
    fused.params["b"][...] = rng.standard_normal(filters)
    separate = nets.Sequential(
        ("conv", nets.Conv2D(in_channels, filters, kernel, stride, padding)),
        ("relu", nets.ReLU()), ("pool", nets.MaxPool2D(pool)))
    separate["conv"].params["W"][...] = fused.params["W"]
    separate["conv"].params["b"][...] = fused.params["b"]
    # Integer-valued images with flat regions: many exact ties inside pooling windows.
    x = rng.integers(0, 2, (3, in_channels, size, size)).astype(np.float32)
    x[:, :, : size // 2] = 0.0
    out = fused.forward(x)
    # Other column orders, so other products: each output sums C*K*K terms and the bias, each
    # dx F*K*K, each dW and db one per output position of the batch.
    assert_close_f32(out, separate.forward(x), in_channels * kernel**2 + 1)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    assert_close_f32(fused.backward(dout), separate.backward(dout), filters * kernel**2)
    positions = len(x) * size * size  # at least the number of output positions
    assert_close_f32(fused.grads["W"], separate["conv"].grads["W"], positions)
    assert_close_f32(fused.grads["b"], separate["conv"].grads["b"], positions)


def test_book_networks_have_the_books_parameter_shapes():
    simple = dict(zoo.simple_conv_net().named_params())
    assert {name: value.shape for name, value in simple.items()} == {
        "conv1.W": (30, 1, 5, 5), "conv1.b": (30,), "fc1.W": (30 * 12 * 12, 100),
        "fc1.b": (100,), "fc2.W": (100, 10), "fc2.b": (10,)}
    deep = dict(zoo.deep_conv_net().named_params())
    kernels = [deep[f"conv{i}.W"].shape for i in range(1, 7)]
    assert kernels == [(16, 1, 3, 3), (16, 16, 3, 3), (32, 16, 3, 3), (32, 32, 3, 3),
                       (64, 32, 3, 3), (64, 64, 3, 3)]
    assert deep["fc1.W"].shape == (64 * 4 * 4, 50) and deep["fc2.W"].shape == (50, 10)
    # LeNet-5: about 60 thousand parameters, as in the paper (C3 here is fully connected).
    assert zoo.lenet5().num_params() == 156 + 2416 + 48120 + 10164 + 850


@pytest.mark.parametrize("name", ["simple_conv_net", "inception_small", "resnet_small"])
def test_zoo_models_survive_a_save_and_load(tmp_path, name):
    model = MODELS[name](np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, 1, 28, 28)).astype(np.float32)
    model.forward(x, train=True)
    nets.io.save(tmp_path / "model.npz", model, extra={"zoo": name})
    loaded, extra = nets.io.load(tmp_path / "model.npz")
    assert extra == {"zoo": name}
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("name", ["simple_conv_net", "deep_conv_net", "dqn_cnn"])
def test_benchmark_networks_match_pytorch_outputs_and_gradients(name):
    # Runs only where PyTorch happens to be installed (it is not a dependency).
    pytest.importorskip("torch")
    from scripts import bench_nets

    net = bench_nets.NETWORKS[name]
    ours = bench_nets.OurStep(net, np.random.default_rng(0))
    ours.x, ours.target = ours.x[:8], ours.target[:8]
    for _, layer in ours.model.layers:
        if isinstance(layer, nets.Dropout):
            layer.p = 0.0  # deterministic: PyTorch's model runs in eval mode below
    theirs = bench_nets.TorchStep(net, ours)
    theirs.model.eval()
    out = ours.model.forward(ours.x, train=True)
    ours.loss.forward(out, ours.target)
    ours.model.backward(ours.loss.backward())
    expected = theirs.model(theirs.x)
    theirs.loss(expected, theirs.target).backward()
    # Two libraries, two sets of kernels: outputs differ by the rounding of the forward path;
    # gradients by that of the way back too, and of the sum over the batch's positions.
    path = forward_reduction_length(ours.model)
    assert_close_f32(out, expected.detach().numpy(), path)
    positions = len(ours.x) * net.input_shape[1] * net.input_shape[2]
    for (param_name, grad), param in zip(ours.model.named_grads(), theirs.model.parameters(),
                                         strict=True):
        expected_grad = param.grad.numpy()
        expected_grad = expected_grad.T if grad.ndim == 2 else expected_grad
        assert_close_f32(grad, expected_grad, 2 * path + positions, err_msg=param_name)


def test_fused_block_rejects_a_pool_size_it_cannot_index():
    with pytest.raises(ValueError, match="pool_size"):
        nets.ConvReLUPool(1, 4, 3, pool_size=0)
    with pytest.raises(ValueError, match="pool_size"):
        nets.ConvReLUPool(1, 4, 3, pool_size=17)
