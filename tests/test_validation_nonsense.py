"""Nonsense numbers (NaN, infinity, out of range, wrong type) are refused with a message naming the
parameter and the value, never turned into a silent answer (issue 15: compute_epsilon(nan, ...) was 0.0)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from plsim import federated as F
from plsim.validation import check_real
from plsim.resources import cpu_allowance, memory_allowance

NAN, INF = float("nan"), float("inf")
GOOD_EPS = dict(noise_multiplier=1.0, sampling_probability=0.01, rounds=100, delta=1e-5)


def _raises(exc_type, func, name, value):
    with pytest.raises(exc_type) as info:
        func()
    message = str(info.value)
    assert name in message and repr(value) in message, message
    return message


# -- compute_epsilon: every argument --------------------------------------------------------------
@pytest.mark.parametrize(("name", "value", "exc_type"), [
    ("noise_multiplier", NAN, ValueError),
    ("noise_multiplier", INF, ValueError),
    ("noise_multiplier", -0.5, ValueError),
    ("noise_multiplier", "1.0", TypeError),
    ("noise_multiplier", None, TypeError),
    ("sampling_probability", NAN, ValueError),
    ("sampling_probability", INF, ValueError),
    ("sampling_probability", 0.0, ValueError),
    ("sampling_probability", 1.5, ValueError),
    ("sampling_probability", "0.1", TypeError),
    ("rounds", -1, ValueError),
    ("rounds", 1.5, TypeError),
    ("rounds", NAN, TypeError),
    ("rounds", True, TypeError),
    ("delta", NAN, ValueError),
    ("delta", INF, ValueError),
    ("delta", 0.0, ValueError),
    ("delta", 1.0, ValueError),
    ("delta", [1e-5], TypeError),
])
def test_compute_epsilon_refuses_nonsense(name, value, exc_type):
    message = _raises(exc_type, lambda: F.compute_epsilon(**{**GOOD_EPS, name: value}), name, value)
    assert "must be" in message  # and what is allowed


def test_compute_epsilon_nan_was_a_privacy_guarantee_from_nothing():
    with pytest.raises(ValueError, match=r"noise_multiplier=nan must be a finite number >= 0"):
        F.compute_epsilon(NAN, 0.01, 100, 1e-5)
    assert math.isfinite(F.compute_epsilon(**GOOD_EPS))  # sane input still works
    assert F.compute_epsilon(np.float64(1.0), np.float32(0.5), np.int64(3), 1e-3) > 0  # numpy scalars are numbers


# -- the other public functions of privacy.py -----------------------------------------------------
@pytest.mark.parametrize(("call", "name", "value", "exc_type"), [
    (lambda v: F.clip_update(np.ones(3), v), "clip", NAN, ValueError),
    (lambda v: F.clip_update(np.ones(3), v), "clip", INF, ValueError),
    (lambda v: F.clip_update(np.ones(3), v), "clip", 0.0, ValueError),
    (lambda v: F.clip_update(np.ones(3), v), "clip", "1", TypeError),
    (lambda v: F.privacy.gaussian_noise(3, v, 0), "std", NAN, ValueError),
    (lambda v: F.privacy.gaussian_noise(3, v, 0), "std", -1.0, ValueError),
    (lambda v: F.privacy.gaussian_noise(v, 1.0, 0), "shape", -2, ValueError),
    (lambda v: F.privacy.gaussian_noise(v, 1.0, 0), "shape", 2.5, TypeError),
    (lambda v: F.PrivacyAccountant(F.DPConfig(), v), "sampling_probability", NAN, ValueError),
    (lambda v: F.PrivacyAccountant(F.DPConfig(), v), "sampling_probability", 2.0, ValueError),
    (lambda v: F.DPConfig(clip=v), "clip", NAN, ValueError),
    (lambda v: F.DPConfig(clip=v), "clip", "1", TypeError),
    (lambda v: F.DPConfig(noise_multiplier=v), "noise_multiplier", INF, ValueError),
    (lambda v: F.DPConfig(delta=v), "delta", NAN, ValueError),
    (lambda v: F.DPConfig(delta=v), "delta", None, TypeError),
])
def test_privacy_functions_refuse_nonsense(call, name, value, exc_type):
    _raises(exc_type, lambda: call(value), name, value)


def test_accountant_needs_a_dp_config():
    with pytest.raises(TypeError, match="config must be a DPConfig"):
        F.PrivacyAccountant({"clip": 1.0}, 0.1)


# -- federated API: NaN / inf are ValueErrors like their siblings ------------------------------------
@pytest.fixture(scope="module")
def tiny():
    from plsim import data, models

    ds = data.load_dataset("digits")
    parts = data.partition(ds.y_train, 4, "iid", random_state=0)
    model = models.SoftmaxRegression(ds.n_features, ds.n_classes)
    return model, ds, parts


@pytest.mark.parametrize(("name", "value"), [("lr", NAN), ("lr", INF), ("mu", NAN), ("mu", INF)])
def test_local_update_refuses_nan_and_inf(name, value, tiny):
    model, ds, parts = tiny
    w0 = model.init_params(0)
    X, y = ds.X_train[parts[0]], ds.y_train[parts[0]]
    _raises(ValueError, lambda: F.local_update(model, w0, X, y, algorithm="fedprox", **{name: value}), name, value)


@pytest.mark.parametrize(("optimizer", "name", "value", "exc_type"), [
    (lambda: F.ServerMomentum(lr=INF), "server_optimizer.lr", INF, ValueError),
    (lambda: F.ServerMomentum(momentum=NAN), "server_optimizer.momentum", NAN, ValueError),
    (lambda: F.ServerAdam(beta1=NAN), "server_optimizer.beta1", NAN, ValueError),
    (lambda: F.ServerAdam(tau="1e-3"), "server_optimizer.tau", "1e-3", TypeError),
])
def test_server_optimizer_settings_refuse_nonsense(optimizer, name, value, exc_type):
    _raises(exc_type, lambda: F.make_server_optimizer(optimizer()), name, value)


# run_federated's own argument checks: NaN and infinity are bad values, like their siblings'.
@pytest.mark.parametrize(("name", "value"), [("client_fraction", NAN), ("client_fraction", INF), ("lr", INF),
                                             ("lr", NAN), ("mu", NAN), ("dropout_rate", NAN)])
def test_run_federated_nan_and_inf_are_value_errors(name, value, tiny):
    model, ds, parts = tiny
    kwargs = dict(rounds=1, client_fraction=0.5, lr=0.1, random_state=0)
    if name == "mu":
        kwargs["algorithm"] = "fedprox"
    _raises(ValueError, lambda: F.run_federated(model, ds, parts, **{**kwargs, name: value}), name, value)


# -- the shared check ------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "kwargs", "exc_type", "allowed"), [
    (NAN, {}, ValueError, "a finite number"),
    (INF, {"minimum": 0}, ValueError, "a finite number >= 0"),
    (-INF, {"allow_inf": True, "minimum": 0}, ValueError, "a number >= 0"),
    (0.0, {"minimum": 0, "maximum": 1, "low_open": True}, ValueError, "a number in (0, 1]"),
    (1.0, {"minimum": 0, "maximum": 1, "high_open": True}, ValueError, "a number in [0, 1)"),
    (True, {}, TypeError, "a finite number"),
    ("x", {"maximum": 2}, TypeError, "a finite number <= 2"),
])
def test_check_real(value, kwargs, exc_type, allowed):
    message = _raises(exc_type, lambda: check_real("p", value, **kwargs), "p", value)
    assert allowed in message


def test_check_real_passes_good_values():
    assert check_real("p", 1) == 1.0 and isinstance(check_real("p", np.int64(1)), float)
    assert check_real("p", INF, allow_inf=True) == INF


# -- CPU_LIMIT / MEM_LIMIT: a bad value warns and is ignored ------------------------------------------
@pytest.mark.parametrize("variable", ["CPU_LIMIT", "MEM_LIMIT"])
@pytest.mark.parametrize("raw", ["abc", "-1", "0", "nan", "inf", "2G"])
def test_bad_limit_variable_warns_and_is_ignored(variable, raw, tmp_path):
    allowance = cpu_allowance if variable == "CPU_LIMIT" else memory_allowance
    baseline = allowance({}, tmp_path)
    with pytest.warns(UserWarning) as record:
        got = allowance({variable: raw}, tmp_path)
    assert got == baseline  # ignored
    message = str(record[0].message)
    assert variable in message and repr(raw) in message and "expected a number of" in message and "> 0" in message


@pytest.mark.parametrize(("variable", "raw"), [("CPU_LIMIT", "1"), ("MEM_LIMIT", "1073741824"), ("CPU_LIMIT", " ")])
def test_good_or_empty_limit_variable_is_silent(variable, raw, tmp_path):
    allowance = cpu_allowance if variable == "CPU_LIMIT" else memory_allowance
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, source = allowance({variable: raw}, tmp_path)
    if raw.strip():
        assert variable in source and value == (1 if variable == "CPU_LIMIT" else 2**30)
