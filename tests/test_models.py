"""plsim.models: analytic gradients against finite differences, flat-vector plumbing, bad inputs."""

import numpy as np
import pytest

from plsim.models import MLP, SoftmaxRegression, make_model, softmax_cross_entropy


def _data(n=12, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, k, size=n)


def _finite_difference(f, w, eps=1e-6):
    g = np.empty_like(w)
    for j in range(w.size):
        e = np.zeros_like(w)
        e[j] = eps
        g[j] = (f(w + e) - f(w - e)) / (2 * eps)
    return g


MODELS = [
    SoftmaxRegression(5, 3),
    SoftmaxRegression(5, 3, l2=0.1),
    MLP(5, hidden=(4,), n_classes=3),
    MLP(5, hidden=(4, 6), n_classes=3, l2=0.05),
    MLP(5, hidden=(4, 3), n_classes=3, activation="tanh"),
    MLP(5, hidden=(), n_classes=3),
]


@pytest.mark.parametrize("model", MODELS, ids=repr)
def test_gradient_matches_finite_differences(model):
    X, y = _data()
    w = model.init_params(random_state=1) + 0.1  # off zero so ReLU kinks are unlikely to be hit
    numeric = _finite_difference(lambda v: model.loss(v, X, y), w)
    analytic = model.gradient(w, X, y)
    assert analytic.shape == w.shape
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)
    loss, grad = model.loss_and_gradient(w, X, y)
    assert loss == pytest.approx(model.loss(w, X, y))
    np.testing.assert_array_equal(grad, analytic)


def test_softmax_loss_known_value():
    # zero weights: every class has probability 1/k, so the loss is log(k)
    model = SoftmaxRegression(4, 5)
    X, y = _data(d=4, k=5)
    assert model.loss(np.zeros(model.n_params), X, y) == pytest.approx(np.log(5))
    # l2 adds l2/2 * ||w||^2
    model_l2 = SoftmaxRegression(4, 5, l2=0.3)
    w = np.zeros(model.n_params)
    w[-1] = 2.0  # any w: the penalty is added on top of the data loss
    assert model_l2.loss(w, X, y) == pytest.approx(model.loss(w, X, y) + 0.5 * 0.3 * 4.0)


def test_cross_entropy_normalizer_makes_microbatch_gradients_add_up():
    rng = np.random.default_rng(3)
    logits, y = rng.normal(size=(8, 3)), rng.integers(0, 3, 8)
    full_loss, full_grad = softmax_cross_entropy(logits, y)
    parts = [softmax_cross_entropy(logits[s], y[s], normalizer=8) for s in (slice(0, 3), slice(3, 8))]
    assert sum(p[0] for p in parts) == pytest.approx(full_loss)
    np.testing.assert_allclose(np.vstack([p[1] for p in parts]), full_grad, atol=1e-15)


def test_n_params_and_unflatten_views():
    model = MLP(5, hidden=(4, 6), n_classes=3)
    assert model.layer_sizes == [5, 4, 6, 3]
    assert model.n_params == 5 * 4 + 4 + 4 * 6 + 6 + 6 * 3 + 3
    w = model.init_params(0)
    layers = model.unflatten(w)
    assert [W.shape for W, _ in layers] == [(5, 4), (4, 6), (6, 3)]
    np.testing.assert_array_equal(model.flatten(layers), w)
    layers[1][1][:] = 7.0  # views: writing a bias writes the flat vector
    assert np.all(w[model.layer_param_slice(1)][-6:] == 7.0)
    assert SoftmaxRegression(5, 3).n_params == 18


def test_layerwise_forward_backward_equals_full_gradient():
    model = MLP(5, hidden=(4, 6), n_classes=3)
    X, y = _data()
    w = model.init_params(2)
    layers = model.unflatten(w)
    a, cache = X, []
    for i, (W, b) in enumerate(layers):
        z, nxt = model.layer_forward(i, W, b, a)
        cache.append((a, z))
        a = nxt
    _, g = softmax_cross_entropy(a, y)
    grads = [None] * 3
    for i in (2, 1, 0):
        dW, db, g = model.layer_backward(i, *layers[i], *cache[i], g)
        grads[i] = (dW, db)
    np.testing.assert_allclose(model.flatten(grads), model.gradient(w, X, y), atol=1e-14)


def test_init_is_deterministic_and_seed_sequence_accepted():
    model = MLP(5, hidden=(4,), n_classes=3)
    np.testing.assert_array_equal(model.init_params(3), model.init_params(3))
    assert not np.array_equal(model.init_params(3), model.init_params(4))
    ss = np.random.SeedSequence(7)
    np.testing.assert_array_equal(model.init_params(ss), model.init_params(np.random.SeedSequence(7)))


def test_predict_and_accuracy():
    model = SoftmaxRegression(2, 2)
    X = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    w = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])  # W = identity: class = argmax feature
    np.testing.assert_array_equal(model.predict(w, X), [0, 1, 0])
    assert model.accuracy(w, X, np.array([0, 1, 1])) == pytest.approx(2 / 3)


def test_inputs_not_mutated():
    model = MLP(5, hidden=(4,), n_classes=3, l2=0.1)
    X, y = _data()
    w = model.init_params(0)
    copies = w.copy(), X.copy(), y.copy()
    model.loss_and_gradient(w, X, y)
    for before, after in zip(copies, (w, X, y)):
        np.testing.assert_array_equal(before, after)


def test_make_model():
    assert isinstance(make_model("softmax", 4, 3), SoftmaxRegression)
    m = make_model("mlp", 4, 3, hidden=(8,), l2=0.1)
    assert isinstance(m, MLP) and m.layer_sizes == [4, 8, 3] and m.l2 == 0.1
    with pytest.raises(ValueError, match="name='cnn'"):
        make_model("cnn", 4, 3)


@pytest.mark.parametrize("call, match", [
    (lambda: SoftmaxRegression(0, 3), "n_features=0"),
    (lambda: SoftmaxRegression(3, 1), "n_classes=1"),
    (lambda: SoftmaxRegression(3, 2, l2=-1), "l2=-1"),
    (lambda: MLP(3, hidden=(0,)), "hidden layer width=0"),
    (lambda: MLP(3, activation="sigmoid"), "activation='sigmoid'"),
    (lambda: MLP(3).init_params(-1), "random_state=-1"),
])
def test_bad_constructor_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_call_inputs():
    model = SoftmaxRegression(5, 3)
    X, y = _data()
    w = model.init_params()
    with pytest.raises(ValueError, match="flat vector of 18"):
        model.loss(w[:-1], X, y)
    with pytest.raises(ValueError, match=r"expected \(n_samples, 5\)"):
        model.loss(w, X[:, :4], y)
    with pytest.raises(ValueError, match="allowed are 0..2"):
        model.loss(w, X, y + 3)
    with pytest.raises(ValueError, match="expected"):
        model.loss(w, X, y[:-1])
    with pytest.raises(TypeError, match="integer class labels"):
        model.loss(w, X, y + 0.5)
    with pytest.raises(ValueError, match="layer index"):
        MLP(5, hidden=(4,), n_classes=3).layer_forward(2, None, None, X)


@pytest.mark.parametrize("make", [lambda: SoftmaxRegression(5, 3, l2=0.1),
                                  lambda: MLP(5, hidden=(4,), n_classes=3, l2=0.1)])
def test_evaluate_matches_loss_and_gradient_and_accuracy(make):
    model = make()
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 5)), rng.integers(0, 3, 20)
    w = model.init_params(1)
    loss, acc = model.evaluate(w, X, y)
    assert loss == pytest.approx(model.loss_and_gradient(w, X, y)[0], rel=1e-12)
    assert loss == pytest.approx(model.loss(w, X, y), rel=1e-12)
    assert acc == np.mean(model.predict(w, X) == y)


def test_public_input_checks_and_the_init_stream():
    from plsim._random import check_random_state
    from plsim.models import SoftmaxRegression

    model = SoftmaxRegression(n_features=3, n_classes=2)
    assert model.check_X([[1, 2, 3]]).dtype == np.float64
    assert list(model.check_y([1.0, 0.0], 2)) == [1, 0]
    assert model.check_params(np.zeros(model.n_params)).shape == (model.n_params,)
    with pytest.raises(ValueError, match="expected \\(n_samples, 3\\)"):
        model.check_X([[1, 2]])
    with pytest.raises(ValueError, match="allowed are 0..1"):
        model.check_y([2], 1)
    with pytest.raises(ValueError, match="flat vector of 8 parameters"):
        model.check_params(np.zeros(3))
    # Same root, same vector; a bad root is the ValueError every plsim module gives.
    assert np.array_equal(model.init_params(random_state=4), model.init_params(random_state=4))
    assert not np.array_equal(model.init_params(random_state=4), model.init_params(random_state=5))
    with pytest.raises(ValueError) as expected:
        check_random_state("four")
    with pytest.raises(ValueError) as got:
        model.init_params(random_state="four")
    assert str(got.value) == str(expected.value)
