"""Small numpy models whose parameters are ONE flat float64 vector.

Federated averaging, all-reduce, gradient compression and pipeline stages all
operate on that vector (or on per-layer views of it), so the models here are
deliberately plain: softmax regression and a multi-layer perceptron with
analytic gradients (checked against finite differences in ``tests/test_models.py``).

Taught in ``notebooks/03_federated_learning.ipynb`` and
``notebooks/04_distributed_training.ipynb``.

>>> model = MLP(n_features=64, hidden=(32,), n_classes=10)
>>> w = model.init_params(random_state=0)
>>> loss, grad = model.loss_and_gradient(w, X, y)       # grad.shape == w.shape
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from plsim._random import check_random_state, task_rng
from plsim.validation import check_positive_int, check_real

__all__ = ["SoftmaxRegression", "MLP", "make_model", "softmax_cross_entropy"]

_ACTIVATIONS = ("relu", "tanh")


def _rng(random_state: Any) -> np.random.Generator:
    """The generator of an initialisation: a branch of plsim's seed tree (a ``SeedSequence`` a run derived), or
    branch ``"init"`` of the tree rooted at ``random_state`` (anything :func:`plsim._random.check_random_state`
    accepts; the same error for anything else)."""
    if isinstance(random_state, np.random.SeedSequence):
        return np.random.default_rng(random_state)
    return task_rng(check_random_state(random_state), "init")


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray, normalizer: float | None = None
                          ) -> tuple[float, np.ndarray]:
    """Cross-entropy of ``logits`` against integer labels ``y`` and its gradient.

    The loss is ``sum_i CE_i / normalizer`` (default: the number of rows, i.e.
    the mean). Passing the *full* batch size as ``normalizer`` for each
    micro-batch makes micro-batch gradients add up to the full-batch gradient
    (used by pipeline parallelism).

    Returns
    -------
    (loss, dlogits)
        ``dlogits`` has the shape of ``logits``.
    """
    n = logits.shape[0]
    normalizer = float(n if normalizer is None else normalizer)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_norm
    rows = np.arange(n)
    loss = -log_probs[rows, y].sum() / normalizer
    dlogits = np.exp(log_probs)
    dlogits[rows, y] -= 1.0
    dlogits /= normalizer
    return float(loss), dlogits


class _FlatModel:
    """Checks shared by the models (inputs, labels, parameter vectors)."""

    n_features: int
    n_classes: int
    l2: float

    @property
    def n_params(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def check_params(self, w: Any) -> np.ndarray:
        """``w`` as an array if it is this model's flat float parameter vector, else a clear error."""
        w = np.asarray(w)
        if w.ndim != 1 or w.shape[0] != self.n_params:
            raise ValueError(
                f"w has shape {w.shape}; this {type(self).__name__} needs a flat vector of "
                f"{self.n_params} parameters"
            )
        if not np.issubdtype(w.dtype, np.floating):
            raise TypeError(f"w must be a float array, got dtype {w.dtype}")
        return w

    def check_X(self, X: Any) -> np.ndarray:
        """``X`` as a float64 array if it has this model's ``n_features`` columns, rows, and only finite values."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"X has shape {X.shape}; expected (n_samples, {self.n_features}) for this "
                f"{type(self).__name__}"
            )
        if X.shape[0] == 0:
            raise ValueError("X has no rows; need at least one sample")
        if not np.isfinite(X).all():
            raise ValueError(f"X holds {X[~np.isfinite(X)][0]!r}: every feature must be a finite number")
        return X

    def check_y(self, y: Any, n: int) -> np.ndarray:
        """``y`` as integer labels if it has ``n`` labels in ``0 .. n_classes - 1``, else a clear error."""
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"y has shape {y.shape}; expected ({n},) to match X")
        if not np.issubdtype(y.dtype, np.integer):
            if np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
                y = y.astype(np.int64)
            else:
                raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
        if n and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(
                f"y has labels in [{y.min()}, {y.max()}]; allowed are 0..{self.n_classes - 1}"
            )
        return y

    # subclasses implement _logits(w, X) and _backward(w, X, y) -> (data_loss, grad)
    def loss(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy plus ``l2 / 2 * ||w||^2`` (a forward pass only)."""
        return self.evaluate(w, X, y)[0]

    def evaluate(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """``(loss, accuracy)`` from one forward pass (what a training loop reports each round)."""
        w = self.check_params(w)
        X = self.check_X(X)
        y = self.check_y(y, X.shape[0])
        logits = self._logits(w, X)
        loss, _ = softmax_cross_entropy(logits, y)
        if self.l2:
            loss += 0.5 * self.l2 * float(w @ w)
        return float(loss), float(np.mean(np.argmax(logits, axis=1) == y))

    def gradient(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Analytic gradient of :meth:`loss` with respect to the flat ``w``."""
        return self.loss_and_gradient(w, X, y)[1]

    def loss_and_gradient(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """``(loss, gradient)`` in one forward/backward pass."""
        w = self.check_params(w)
        X = self.check_X(X)
        y = self.check_y(y, X.shape[0])
        loss, grad = self._backward(w, X, y)
        if self.l2:
            loss += 0.5 * self.l2 * float(w @ w)
            grad += self.l2 * w
        return loss, grad

    def predict(self, w: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Predicted class labels ``0..n_classes-1``."""
        w = self.check_params(w)
        X = self.check_X(X)
        return np.argmax(self._logits(w, X), axis=1)

    def accuracy(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        """Fraction of correctly classified rows."""
        X = self.check_X(X)
        y = self.check_y(y, X.shape[0])
        return float(np.mean(self.predict(w, X) == y))

    def _logits(self, w: np.ndarray, X: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _backward(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:  # pragma: no cover
        raise NotImplementedError


class SoftmaxRegression(_FlatModel):
    """Multinomial logistic regression; ``w`` = ``[W.ravel(), b]`` with ``W`` of shape (n_features, n_classes).

    Parameters
    ----------
    n_features, n_classes : int
        Input width and number of classes (>= 2).
    l2 : float
        Ridge penalty ``l2 / 2 * ||w||^2`` (on all parameters, bias included).
    """

    def __init__(self, n_features: int, n_classes: int, l2: float = 0.0) -> None:
        self.n_features = check_positive_int("n_features", n_features)
        self.n_classes = check_positive_int("n_classes", n_classes)
        if self.n_classes < 2:
            raise ValueError(f"n_classes={n_classes!r} must be at least 2")
        self.l2 = check_real("l2", l2, minimum=0)

    def __repr__(self) -> str:
        return f"SoftmaxRegression(n_features={self.n_features}, n_classes={self.n_classes}, l2={self.l2})"

    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector."""
        return self.n_features * self.n_classes + self.n_classes

    def init_params(self, random_state: Any = 0) -> np.ndarray:
        """Small random weights (std 0.01), zero bias; the same ``random_state`` gives the same vector."""
        rng = _rng(random_state)
        W = rng.normal(0.0, 0.01, size=(self.n_features, self.n_classes))
        return np.concatenate([W.ravel(), np.zeros(self.n_classes)])

    def unflatten(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Views ``(W, b)`` into the flat vector."""
        w = self.check_params(w)
        k = self.n_features * self.n_classes
        return w[:k].reshape(self.n_features, self.n_classes), w[k:]

    def _logits(self, w: np.ndarray, X: np.ndarray) -> np.ndarray:
        W, b = self.unflatten(w)
        return X @ W + b

    def _backward(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        loss, dlogits = softmax_cross_entropy(self._logits(w, X), y)
        return loss, np.concatenate([(X.T @ dlogits).ravel(), dlogits.sum(axis=0)])


class MLP(_FlatModel):
    """Fully connected network: hidden layers with ReLU/tanh, a linear output layer, softmax cross-entropy.

    The flat vector is ``[W_0.ravel(), b_0, W_1.ravel(), b_1, ...]`` with ``W_i`` of
    shape ``(layer_sizes[i], layer_sizes[i + 1])``. :meth:`layer_forward` and
    :meth:`layer_backward` expose one layer at a time so pipeline parallelism
    (:mod:`plsim.training.pipeline`) can place groups of layers on different workers.

    Parameters
    ----------
    n_features : int
        Input width.
    hidden : tuple of int
        Widths of the hidden layers (may be empty: then it is softmax regression).
    n_classes : int
        Output classes (>= 2).
    l2 : float
        Ridge penalty ``l2 / 2 * ||w||^2``.
    activation : {"relu", "tanh"}
        Hidden-layer non-linearity.
    """

    def __init__(self, n_features: int, hidden: tuple[int, ...] = (64,), n_classes: int = 10,
                 l2: float = 0.0, activation: str = "relu") -> None:
        self.n_features = check_positive_int("n_features", n_features)
        self.n_classes = check_positive_int("n_classes", n_classes)
        if self.n_classes < 2:
            raise ValueError(f"n_classes={n_classes!r} must be at least 2")
        if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
            hidden = (int(hidden),)
        if not isinstance(hidden, (tuple, list)):
            raise TypeError(f"hidden must be a tuple of positive integers, got {hidden!r}")
        self.hidden = tuple(check_positive_int("hidden layer width", h) for h in hidden)
        self.l2 = check_real("l2", l2, minimum=0)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not supported; choose one of {_ACTIVATIONS}")
        self.activation = activation
        self.layer_sizes = [self.n_features, *self.hidden, self.n_classes]
        # (start, stop) offsets of each layer's W and b inside the flat vector
        self._slices: list[tuple[slice, slice]] = []
        offset = 0
        for fan_in, fan_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:]):
            w_slice = slice(offset, offset + fan_in * fan_out)
            offset += fan_in * fan_out
            b_slice = slice(offset, offset + fan_out)
            offset += fan_out
            self._slices.append((w_slice, b_slice))
        self._n_params = offset

    def __repr__(self) -> str:
        return (f"MLP(n_features={self.n_features}, hidden={self.hidden}, n_classes={self.n_classes}, "
                f"l2={self.l2}, activation={self.activation!r})")

    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector."""
        return self._n_params

    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden layers + output layer)."""
        return len(self.layer_sizes) - 1

    def layer_param_slice(self, i: int) -> slice:
        """The part of the flat vector holding layer ``i``'s ``W`` and ``b``."""
        self._check_layer(i)
        w_slice, b_slice = self._slices[i]
        return slice(w_slice.start, b_slice.stop)

    def init_params(self, random_state: Any = 0) -> np.ndarray:
        """He (ReLU) or Glorot (tanh) normal weights, zero biases; deterministic in ``random_state``."""
        rng = _rng(random_state)
        parts = []
        for fan_in, fan_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:]):
            scale = np.sqrt(2.0 / fan_in) if self.activation == "relu" else np.sqrt(2.0 / (fan_in + fan_out))
            parts.append(rng.normal(0.0, scale, size=fan_in * fan_out))
            parts.append(np.zeros(fan_out))
        return np.concatenate(parts)

    def unflatten(self, w: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per-layer ``(W_i, b_i)`` *views* into ``w`` (writing to them writes ``w``)."""
        w = self.check_params(w)
        return [(w[ws].reshape(fi, fo), w[bs])
                for (ws, bs), fi, fo in zip(self._slices, self.layer_sizes[:-1], self.layer_sizes[1:])]

    def flatten(self, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Inverse of :meth:`unflatten`: one new flat vector from per-layer ``(W_i, b_i)``."""
        if len(layers) != self.n_layers:
            raise ValueError(f"got {len(layers)} layers; this MLP has {self.n_layers}")
        parts = []
        for i, (W, b) in enumerate(layers):
            fi, fo = self.layer_sizes[i], self.layer_sizes[i + 1]
            W, b = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
            if W.shape != (fi, fo) or b.shape != (fo,):
                raise ValueError(f"layer {i}: W {W.shape}, b {b.shape}; expected ({fi}, {fo}) and ({fo},)")
            parts += [W.ravel(), b]
        return np.concatenate(parts)

    def _check_layer(self, i: Any) -> int:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < self.n_layers:
            raise ValueError(f"layer index i={i!r} must be an integer in 0..{self.n_layers - 1}")
        return int(i)

    def _is_output(self, i: int) -> bool:
        return i == self.n_layers - 1

    def layer_forward(self, i: int, W: np.ndarray, b: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Layer ``i`` on input activations ``a``: ``z = a @ W + b`` and ``a_next = act(z)``.

        For the output layer ``a_next`` is ``z`` itself (the logits).
        """
        i = self._check_layer(i)
        z = a @ W + b
        if self._is_output(i):
            return z, z
        return z, (np.maximum(z, 0.0) if self.activation == "relu" else np.tanh(z))

    def layer_backward(self, i: int, W: np.ndarray, b: np.ndarray, a: np.ndarray, z: np.ndarray,
                       grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Back-propagate through layer ``i``.

        Parameters
        ----------
        a, z : ndarray
            The layer's input activations and pre-activations from :meth:`layer_forward`.
        grad_out : ndarray
            Gradient of the loss with respect to the layer's output ``a_next``
            (for the output layer: with respect to the logits).

        Returns
        -------
        (dW, db, grad_in)
            Data-loss gradients of ``W`` and ``b`` (no l2 term) and the gradient
            with respect to the input ``a``.
        """
        i = self._check_layer(i)
        if self._is_output(i):
            dz = grad_out
        elif self.activation == "relu":
            dz = grad_out * (z > 0)
        else:
            dz = grad_out * (1.0 - np.tanh(z) ** 2)
        return a.T @ dz, dz.sum(axis=0), dz @ W.T

    def _logits(self, w: np.ndarray, X: np.ndarray) -> np.ndarray:
        a = X
        for i, (W, b) in enumerate(self.unflatten(w)):
            _, a = self.layer_forward(i, W, b, a)
        return a

    def _backward(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        layers = self.unflatten(w)
        cache = []
        a = X
        for i, (W, b) in enumerate(layers):
            z, a_next = self.layer_forward(i, W, b, a)
            cache.append((a, z))
            a = a_next
        loss, grad_out = softmax_cross_entropy(a, y)
        grad = np.empty(self.n_params)
        for i in range(self.n_layers - 1, -1, -1):
            W, b = layers[i]
            a_in, z = cache[i]
            dW, db, grad_out = self.layer_backward(i, W, b, a_in, z, grad_out)
            ws, bs = self._slices[i]
            grad[ws] = dW.ravel()
            grad[bs] = db
        return loss, grad


def make_model(name: str, n_features: int, n_classes: int, **kwargs: Any) -> SoftmaxRegression | MLP:
    """Build a model by name: ``"softmax"`` (:class:`SoftmaxRegression`) or ``"mlp"`` (:class:`MLP`).

    Extra keyword arguments go to the model's constructor (``l2``, ``hidden``, ``activation``).
    """
    if name == "softmax":
        return SoftmaxRegression(n_features, n_classes, **kwargs)
    if name == "mlp":
        return MLP(n_features, n_classes=n_classes, **kwargs)
    raise ValueError(f"model name={name!r} is unknown; choose 'softmax' or 'mlp'")
