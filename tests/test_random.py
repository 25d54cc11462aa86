"""plsim._random: one seed tree, named streams, one error for a bad random_state."""

from __future__ import annotations

import numpy as np
import pytest

from plsim._random import STREAMS, check_random_state, seed_int, task_rng, task_seed
from plsim.validation import check_random_state as public_check


def test_an_int_is_the_root_itself():
    assert check_random_state(0) == 0
    assert check_random_state(np.int64(12)) == 12
    assert public_check is check_random_state


def test_none_draws_a_fresh_root_each_time():
    assert check_random_state(None) != check_random_state(None)


def test_a_random_state_or_generator_gives_one_draw_and_advances_it():
    rs = np.random.RandomState(5)
    expected = np.random.RandomState(5).randint(np.iinfo(np.int32).max)
    assert check_random_state(rs) == expected
    assert check_random_state(rs) != expected  # advanced, as scikit-learn's check_random_state does
    g = np.random.default_rng(5)
    assert check_random_state(g) == np.random.default_rng(5).integers(np.iinfo(np.int32).max)


@pytest.mark.parametrize("bad", [True, False, -1, 1.5, "0", [0], np.bool_(True)])
def test_every_bad_value_is_the_same_value_error(bad):
    with pytest.raises(ValueError, match=r"random_state=.* is not allowed: it must be None, a non-negative int"):
        check_random_state(bad)


def test_the_parameter_name_is_in_the_message():
    with pytest.raises(ValueError, match=r"^seed=-3 is not allowed"):
        check_random_state(-3, name="seed")


def test_a_branch_is_the_spawn_key_of_its_stream_and_indices():
    """Independently computed: SeedSequence(root, spawn_key=(tag, *index))."""
    got = task_seed(7, "client", 3, 11).generate_state(4)
    want = np.random.SeedSequence(7, spawn_key=(STREAMS["client"], 3, 11)).generate_state(4)
    assert np.array_equal(got, want)


def test_branches_differ_by_stream_and_index_and_repeat_exactly():
    a = task_rng(1, "member", 0).random(5)
    assert np.array_equal(a, task_rng(1, "member", 0).random(5))
    assert not np.array_equal(a, task_rng(1, "member", 1).random(5))
    assert not np.array_equal(a, task_rng(1, "folds", 0).random(5))
    assert not np.array_equal(a, task_rng(2, "member", 0).random(5))


def test_streams_have_distinct_tags():
    assert len(set(STREAMS.values())) == len(STREAMS)


@pytest.mark.parametrize("stream, index, match", [
    ("nope", (), r"stream='nope' is unknown"),
    ("client", (-1,), r"index=-1 of seed stream 'client'"),
    ("client", (1.0,), r"index=1.0 of seed stream 'client'"),
])
def test_bad_stream_or_index(stream, index, match):
    with pytest.raises(ValueError, match=match):
        task_seed(0, stream, *index)


def test_seed_int_is_a_valid_31_bit_seed_and_deterministic():
    values = {seed_int(task_seed(0, "member", i)) for i in range(200)}
    assert all(0 <= v < 2**31 - 1 for v in values) and len(values) == 200
    assert seed_int(task_seed(0, "member", 3)) == seed_int(task_seed(0, "member", 3))


def test_one_default_for_random_state_across_topics():
    """As in scikit-learn: every topic's run (and every ensemble) defaults to a fresh seed; an int repeats a run."""
    import inspect

    from plsim import ensembles, federated, training
    from plsim.federated.comparison import tune_lr
    from plsim.training.async_ps import async_sgd, async_sgd_simulated
    from plsim.training.sync import large_batch_sgd

    runs = [federated.run_federated, tune_lr, training.sync_sgd, large_batch_sgd, async_sgd, async_sgd_simulated,
            training.local_sgd, *(getattr(ensembles, n) for n in ensembles.__all__ if n.startswith("Parallel"))]
    defaults = {getattr(r, "__name__", r): inspect.signature(r).parameters["random_state"].default for r in runs}
    assert len(defaults) >= 8 and set(defaults.values()) == {None}, defaults
