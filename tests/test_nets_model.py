"""The model API: names, state, copying, freezing, config round trip, errors."""

import numpy as np
import pytest

import nets

from tolerance import assert_close_f32, forward_reduction_length


def small_cnn(seed=0, input_grad=True):
    rng = np.random.default_rng(seed)
    return nets.Sequential([
        ("conv1", nets.Conv2D(1, 4, 3, padding=1, rng=rng)),
        ("bn1", nets.BatchNorm(4)),
        ("relu1", nets.ReLU()),
        ("pool1", nets.MaxPool2D(2)),
        ("flatten", nets.Flatten()),
        ("fc1", nets.Dense(4 * 4 * 4, 10, rng=rng)),
        ("drop", nets.Dropout(0.2, rng=rng)),
        ("fc2", nets.Dense(10, 3, rng=rng)),
    ], input_grad=input_grad)


X = np.random.default_rng(9).random((5, 1, 8, 8), dtype=np.float32)


def train_step(model, x=X):
    loss = nets.losses.SoftmaxCrossEntropy()
    loss.forward(model.forward(x, train=True), np.arange(len(x)) % 3)
    return model.backward(loss.backward())


def test_named_params_are_dotted_and_params_are_live_arrays():
    model = small_cnn()
    names = [name for name, _ in model.named_params()]
    assert names == ["conv1.W", "conv1.b", "bn1.gamma", "bn1.beta", "fc1.W", "fc1.b", "fc2.W",
                     "fc2.b"]
    assert model.trainable_params()["fc1.W"] is model["fc1"].params["W"]
    assert list(model.trainable_grads()) == names
    assert model.num_params() == 4 * 9 + 4 + 8 + 64 * 10 + 10 + 10 * 3 + 3
    assert set(model.state_dict()) == set(names) | {"bn1.running_mean", "bn1.running_var"}


def test_model_trainable_params_and_layer_params_do_not_share_a_name():
    # A layer's `params` is a dict of its own arrays; a model's trainable ones come from a
    # method of another name.
    model = small_cnn()
    model.freeze("bn1")
    assert isinstance(model["fc1"].params, dict)
    assert "bn1.gamma" not in model.trainable_params()
    assert model.trainable_grads().keys() == model.trainable_params().keys()
    assert not callable(getattr(model, "params", None))


def test_backward_overwrites_gradient_arrays_in_place():
    model = nets.Sequential(nets.Flatten(), nets.Dense(64, 5), nets.ReLU(), nets.Dense(5, 3))
    grads = model.trainable_grads()
    train_step(model)
    first = {name: g.copy() for name, g in grads.items()}
    train_step(model)  # same batch, same weights: same gradients, not accumulated
    for name, grad in model.trainable_grads().items():
        assert grad is grads[name]
        np.testing.assert_array_equal(grad, first[name])


def test_backward_does_not_modify_dout():
    model = small_cnn()
    out = model.forward(X, train=True)
    dout = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
    kept = dout.copy()
    model.backward(dout)
    np.testing.assert_array_equal(dout, kept)


def test_input_grad_false_returns_none_and_same_parameter_gradients():
    full, skipped = small_cnn(input_grad=True), small_cnn(input_grad=False)
    assert train_step(full) is not None
    assert train_step(skipped) is None
    # Gradients sum over the batch and positions (5 * 8 * 8 for conv1) after a backward pass
    # through the layers; only the first layer's dx is skipped.
    reduction = len(X) * 8 * 8 + 2 * forward_reduction_length(full)
    for (name, a), (_, b) in zip(full.named_grads(), skipped.named_grads(), strict=True):
        assert_close_f32(a, b, reduction, err_msg=name)


def test_input_grad_false_skips_leading_parameter_free_layers():
    model = nets.Sequential(nets.Scale(1 / 255), nets.Dense(4, 2), input_grad=False)
    model.forward(np.ones((3, 4)), train=True)
    assert model.backward(np.ones((3, 2), np.float32)) is None
    assert model.trainable_grads()["dense1.W"].any()


def test_copy_to_and_polyak_update():
    source, target = small_cnn(seed=1), small_cnn(seed=2)
    train_step(source)  # moves BN running statistics away from their initial values
    before = target.state_dict()
    nets.polyak_update(target, source, tau=0.25)
    for name, value in target.state_dict().items():
        # Two terms; where they cancel, their size sets the rounding, not the result's.
        mixed = 0.75 * before[name], 0.25 * source.state_dict()[name]
        assert_close_f32(value, mixed[0] + mixed[1], 2, np.abs(mixed[0]) + np.abs(mixed[1]),
                         err_msg=name)
    source.copy_to(target)
    np.testing.assert_array_equal(target.predict(X), source.predict(X))
    target["fc1"].params["W"][0, 0] += 1.0  # a hard copy, not shared arrays
    assert source["fc1"].params["W"][0, 0] != target["fc1"].params["W"][0, 0]
    other = nets.Sequential(("fc1", nets.Dense(64, 3)))
    with pytest.raises(ValueError, match=r"conv1\.W") as raised:
        nets.polyak_update(other, source, 0.5)
    assert not isinstance(raised.value, nets.CheckpointError)  # no file is involved
    with pytest.raises(nets.CheckpointError, match="unexpected parameters"):
        source.copy_to(other)


def test_freeze_excludes_parameters_from_training_and_unfreeze_restores_them():
    model = small_cnn()
    frozen = model.freeze(["conv", "bn"])
    assert frozen == ["conv1.W", "conv1.b", "bn1.gamma", "bn1.beta"]
    assert list(model.trainable_params()) == ["fc1.W", "fc1.b", "fc2.W", "fc2.b"]
    conv_before = model["conv1"].params["W"].copy()
    optimizer = nets.optim.SGD(lr=0.1)
    train_step(model)
    optimizer.update(model.trainable_params(), model.trainable_grads())
    np.testing.assert_array_equal(model["conv1"].params["W"], conv_before)
    model.unfreeze("conv")
    assert "conv1.W" in model.trainable_params() and "bn1.gamma" not in model.trainable_params()
    with pytest.raises(ValueError, match="no parameter name starts with"):
        model.freeze("decoder")


def test_load_state_dict_names_every_mismatch():
    model = small_cnn()
    state = model.state_dict()
    state["fc1.W"] = np.zeros((3, 3), np.float32)
    del state["conv1.b"]
    state["head.W"] = np.zeros(2, np.float32)
    with pytest.raises(nets.CheckpointError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "conv1.b" in message and "head.W" in message and "fc1.W" in message


def test_load_state_dict_non_strict_loads_a_subset():
    source, target = small_cnn(seed=1), small_cnn(seed=2)
    subset = {k: v for k, v in source.state_dict().items() if k.startswith("conv")}
    report = target.load_state_dict(subset, strict=False)
    assert "fc1.W" in report["missing"] and report["unexpected"] == []
    np.testing.assert_array_equal(target["conv1"].params["W"], source["conv1"].params["W"])
    assert not np.array_equal(target["fc1"].params["W"], source["fc1"].params["W"])


def test_config_build_round_trip_for_every_block():
    rng = np.random.default_rng(0)
    model = nets.Sequential([
        ("scale", nets.Scale(0.5)),
        ("conv1", nets.ConvReLUPool(1, 4, 3, padding=1, rng=rng)),
        ("res", nets.Residual(nets.Sequential(nets.Conv2D(4, 6, 3, padding=1, rng=rng)),
                              in_channels=4, out_channels=6, rng=rng)),
        ("lrn", nets.LocalResponseNorm(3)),
        ("mix", nets.Concat([("a", nets.Conv2D(6, 2, 1, rng=rng)),
                             ("b", nets.Sequential(nets.AvgPool2D(3, 1, 1),
                                                   nets.Conv2D(6, 2, 1, rng=rng)))])),
        ("gap", nets.GlobalAvgPool()),
        ("fc", nets.Dense(4, 3, init="xavier", rng=rng)),
        ("out", nets.Softmax()),
    ], input_grad=False)
    import json
    config = json.loads(json.dumps(model.config()))  # JSON-able
    rebuilt = nets.build(config)
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.config() == model.config()
    np.testing.assert_array_equal(rebuilt.predict(X), model.predict(X))
    assert rebuilt.input_grad is False


def test_summary_lists_layers_shapes_and_parameter_counts():
    text = small_cnn().summary((1, 8, 8))
    assert "conv1" in text and "(4, 8, 8)" in text and "(3,)" in text
    assert f"{small_cnn().num_params():,}" in text.splitlines()[-1]


def test_predict_in_batches_matches_one_batch_and_is_eval_mode():
    model = small_cnn()
    train_step(model)
    # Batches of 2 and of 5 are other shapes: the BLAS may sum them in another order.
    assert_close_f32(model.predict(X, batch_size=2), model.predict(X),
                     forward_reduction_length(model))
    np.testing.assert_array_equal(model.predict(X), model.predict(X))  # dropout off


def test_wrong_input_shape_names_layer_expected_and_received():
    model = small_cnn()
    with pytest.raises(nets.ShapeError, match=r"conv1.*\(N, 1, H, W\).*\(5, 3, 8, 8\)"):
        model.forward(np.zeros((5, 3, 8, 8), np.float32))
    with pytest.raises(nets.ShapeError, match=r"fc1.*\(N, 64\).*received \(5, 100\)"):
        model.forward(np.zeros((5, 1, 10, 10), np.float32))


def test_build_rejects_unknown_types():
    with pytest.raises(ValueError, match="known types"):
        nets.build({"type": "Transformer"})


def test_dense_after_concat_leaves_out_the_input_gradient_no_branch_takes():
    """A DQN's window around the agent beside its CNN takes no gradient: the Dense after them
    computes its input gradient for the CNN's features only, and every weight gradient is the
    one of the full computation."""
    def network(input_grad):
        rng = np.random.default_rng(3)
        cnn = nets.Sequential(nets.Conv2D(6, 2, 3, padding=1, rng=rng), nets.ReLU(),
                              nets.Flatten())
        return nets.Sequential([
            ("features", nets.Concat([("cnn", cnn),
                                      ("window", nets.AgentWindow(6, 2, 1, 3, outside=0))])),
            ("fc", nets.Dense(2 * 4 * 5 + 6 * 9, 3, rng=rng))], input_grad=input_grad).astype(
                np.float64)

    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 6, 4, 5))
    x[:, 4] = 0.0
    x[np.arange(5), 4, rng.integers(0, 4, 5), rng.integers(0, 5, 5)] = 1.0  # the agent
    dout = rng.standard_normal((5, 3))
    lean, full = network(False), network(True)
    for model in (lean, full):
        model.forward(x, train=True)
        model.backward(dout)
    assert lean["features"].grad_width() == 2 * 4 * 5  # the CNN's features only
    assert lean["fc"].dx_width == 2 * 4 * 5 and full["fc"].dx_width is None
    # Both networks are float64 (astype above) and differ only in a matrix product's shape
    # (dx of 40 columns, or of all 94 and then cut): float64 rounding, ~1e-16 relative.
    float64_rtol = 1e-12
    for name, grad in full.named_grads():
        np.testing.assert_allclose(dict(lean.named_grads())[name], grad, rtol=float64_rtol,
                                   atol=float64_rtol * 1e-2, err_msg=name)
