"""plsim.comm: closed-form cost models, ring all-reduce (local and on the cluster), compression, payload sizes."""

import importlib
import math
import time
from fractions import Fraction

import numpy as np
import pytest

from plsim.comm import (
    ErrorFeedback,
    LinkModel,
    QuantizedPayload,
    comm_bytes,
    comm_time,
    cost_table,
    decompress,
    payload_nbytes,
    quantize_8bit,
    ring_allreduce,
    ring_allreduce_local,
    topk_compress,
)

LINK = LinkModel(alpha=1e-3, beta=1e-6)  # 1 ms latency, 1 MB/s: easy hand arithmetic


@pytest.mark.parametrize("algorithm, p, expected", [
    ("ring", 4, 2 * 3 * 1e-3 + 2 * 3 / 4 * 1000 * 1e-6),          # 6 ms + 1.5 ms
    ("ring", 2, 2 * 1e-3 + 1 * 1000 * 1e-6),
    ("parameter_server", 4, 2 * 1e-3 + 2 * 4 * 1000 * 1e-6),      # 2 ms latency + 8 ms incast
    ("parameter_server", 2, 2 * 1e-3 + 2 * 2 * 1000 * 1e-6),      # 6 ms
    ("naive", 3, 2 * (1e-3 + 1e-3)),
    ("tree", 2, 2 * 1 * (1e-3 + 1e-3)),
    ("ring", 3, 2 * 2 * 1e-3 + 2 * 2 / 3 * 1000 * 1e-6),
    ("naive", 4, 3 * (1e-3 + 1e-3)),
    ("tree", 8, 2 * 3 * (1e-3 + 1e-3)),
    ("tree", 5, 2 * 3 * (1e-3 + 1e-3)),                           # ceil(log2 5) = 3
    ("ring", 1, 0.0),
])
def test_comm_time_hand_computed(algorithm, p, expected):
    assert comm_time(algorithm, p, 1000, LINK) == pytest.approx(expected)


def test_ring_per_worker_bytes_bounded_and_parameter_server_grows():
    n = 1e6
    ring = [comm_bytes("ring", p, n)["per_worker"] for p in (2, 16, 1024)]
    assert ring[0] == n and all(v < 2 * n for v in ring) and ring[-1] == pytest.approx(2 * n, rel=1e-3)
    server = [comm_bytes("parameter_server", p, n)["busiest"] for p in (2, 16, 1024)]
    assert server == [2 * n, 16 * n, 1024 * n]
    # bandwidth term of the ring approaches 2 n beta, whatever p
    big = LinkModel(alpha=0.0, beta=1e-9)
    assert comm_time("ring", 1024, n, big) == pytest.approx(2 * n * 1e-9, rel=1e-3)
    assert comm_time("parameter_server", 1024, n, big) > 500 * comm_time("ring", 1024, n, big)


@pytest.mark.parametrize("servers, expected", [
    (1, 2e-3 + 2 * 8 * 1000 * 1e-6),      # 8 workers, one server: 18 ms
    (2, 2e-3 + 2 * 8 * 1000 * 1e-6 / 2),  # two shards of n/2: 10 ms
    (4, 2e-3 + 2 * 8 * 1000 * 1e-6 / 4),  # 6 ms
    (8, 2e-3 + 2 * 1000 * 1e-6),          # s = p: each link carries n per direction, 4 ms
    (16, 2e-3 + 2 * 1000 * 1e-6),         # more servers than workers: a worker's own link is the bottleneck
])
def test_sharded_parameter_server_hand_computed(servers, expected):
    assert comm_time("parameter_server", 8, 1000, LINK, servers=servers) == pytest.approx(expected)


def test_parameter_server_latency_paid_once_per_direction():
    latency_only = LinkModel(alpha=1e-3, beta=0.0)
    assert {comm_time("parameter_server", p, 1e6, latency_only) for p in (2, 10, 1000, 10_000)} == {2e-3}
    bandwidth_only = LinkModel(alpha=0.0, beta=1e-9)
    for p in (2, 16, 1024):
        one = comm_time("parameter_server", p, 1e6, bandwidth_only)
        assert one == pytest.approx(2 * p * 1e6 * 1e-9)  # all p payloads through the server's link
        for s in {2, 4, p} & set(range(1, p + 1)):  # up to one server per worker
            assert comm_time("parameter_server", p, 1e6, bandwidth_only, servers=s) == pytest.approx(one / s)
    assert comm_bytes("parameter_server", 8, 1e6, servers=4)["busiest"] == 2e6


@pytest.mark.parametrize("p", [2, 3, 4, 5, 8, 17, 64, 1000])
def test_ring_bandwidth_term_is_the_lowest(p):
    # Patarasuk and Yuan (2009): 2 (p - 1) / p n beta is a lower bound for all-reduce
    bandwidth_only = LinkModel(alpha=0.0, beta=1e-9)
    ring = comm_time("ring", p, 1e6, bandwidth_only)
    assert ring == pytest.approx(2 * (p - 1) / p * 1e6 * 1e-9)
    for alg in ("parameter_server", "naive", "tree"):
        assert ring <= comm_time(alg, p, 1e6, bandwidth_only) * (1 + 1e-12), alg
    for s in range(1, p + 1):  # even a parameter server sharded over up to p servers
        assert ring <= comm_time("parameter_server", p, 1e6, bandwidth_only, servers=s) * (1 + 1e-12)


def test_link_presets():
    from plsim.comm import LINK_PRESETS, link_preset

    assert set(LINK_PRESETS) == {"datacenter", "home", "mobile"}
    dc, home, mobile = (link_preset(k) for k in ("datacenter", "home", "mobile"))
    assert 10e-6 <= dc.alpha <= 50e-6 and dc.bandwidth == pytest.approx(1.25e9)
    assert home.alpha == pytest.approx(20e-3) and home.bandwidth == pytest.approx(12.5e6)
    assert 50e-3 <= mobile.alpha <= 100e-3 and mobile.bandwidth == pytest.approx(1.25e6)
    assert dc.describe() == "α = 20 µs, 1/β = 1.25 GB/s"
    with pytest.raises(ValueError, match="'lan'"):
        link_preset("lan")


def test_cost_table_rows_labelled_predicted():
    rows = cost_table([2, 4], 1000, LINK)
    assert len(rows) == 8 and {r["kind"] for r in rows} == {"predicted"}


def test_cost_model_bad_inputs():
    with pytest.raises(ValueError, match="algorithm='butterfly'"):
        comm_time("butterfly", 2, 10)
    with pytest.raises(ValueError, match="n_workers=0"):
        comm_time("ring", 0, 10)
    with pytest.raises(ValueError, match="n_bytes=-1"):
        comm_bytes("ring", 2, -1)
    with pytest.raises(ValueError, match="alpha=-1"):
        LinkModel(alpha=-1)
    with pytest.raises(ValueError, match="servers=0"):
        comm_time("parameter_server", 4, 10, servers=0)
    with pytest.raises(ValueError, match="only applies to algorithm='parameter_server'"):
        comm_time("ring", 4, 10, servers=2)


@pytest.mark.parametrize("p", [1, 2, 3, 5])
def test_ring_allreduce_local_equals_mean(p):
    rng = np.random.default_rng(p)
    arrays = [rng.normal(size=13) for _ in range(p)]
    before = [a.copy() for a in arrays]
    result = ring_allreduce_local(arrays)
    for v in result.values:
        np.testing.assert_allclose(v, np.mean(arrays, axis=0), atol=1e-14)
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)
    assert result.messages == 2 * p * (p - 1) and result.steps == 2 * (p - 1)
    # each rank sends 2 (p - 1) chunks of about n / p entries
    assert result.bytes_sent == 2 * (p - 1) * 13 * 8


def test_ring_allreduce_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        ring_allreduce_local([np.zeros(3), np.zeros(4)])
    with pytest.raises(ValueError, match="non-empty"):
        ring_allreduce_local([])


@pytest.mark.slow
def test_ring_allreduce_on_cluster_equals_mean(client):
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=1001) for _ in range(3)]  # 3 ranks on 2 workers, uneven chunks
    result = ring_allreduce(arrays, executor=client)
    for v in result.values:
        np.testing.assert_allclose(v, np.mean(arrays, axis=0), atol=1e-14)
    assert result.bytes_sent == ring_allreduce_local(arrays).bytes_sent
    summed = ring_allreduce(arrays, executor=client, average=False)
    np.testing.assert_allclose(summed.values[1], np.sum(arrays, axis=0), atol=1e-12)


def test_topk_keeps_largest_and_counts_bytes():
    g = np.array([0.1, -5.0, 0.2, 3.0, -0.05])
    payload = topk_compress(g, 2)
    np.testing.assert_array_equal(payload.indices, [1, 3])
    np.testing.assert_array_equal(decompress(payload), [0, -5.0, 0, 3.0, 0])
    assert payload.nbytes == 2 * 4 + 2 * 8 + 8 == payload_nbytes(payload)
    np.testing.assert_array_equal(decompress(topk_compress(g, 5)), g)  # k = all: no compression
    with pytest.raises(ValueError, match="k=6"):
        topk_compress(g, 6)


def test_error_feedback_conserves_the_residual():
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=50) for _ in range(20)]
    ef = ErrorFeedback("topk", k=5)
    sent = sum(decompress(ef.compress(g)) for g in grads)
    np.testing.assert_allclose(sent + ef.residual, np.sum(grads, axis=0), atol=1e-12)
    ef8 = ErrorFeedback("8bit")
    sent8 = sum(decompress(ef8.compress(g)) for g in grads)
    np.testing.assert_allclose(sent8 + ef8.residual, np.sum(grads, axis=0), atol=1e-12)


def test_quantize_8bit_error_bound_and_bytes():
    rng = np.random.default_rng(2)
    g = rng.normal(size=1000) * 3
    q = quantize_8bit(g)
    assert isinstance(q, QuantizedPayload)
    scale = g.max() - g.min()
    assert np.max(np.abs(q.decode() - g)) <= scale / 255
    assert q.nbytes == 1000 + 16 and g.nbytes / q.nbytes > 7.8
    const = quantize_8bit(np.full(4, 2.5))
    np.testing.assert_array_equal(const.decode(), np.full(4, 2.5))


def test_payload_nbytes():
    assert payload_nbytes(np.zeros(10)) == 80
    assert payload_nbytes((np.zeros(2), 1.0, None, {"a": np.zeros(3, np.float32)})) == 16 + 8 + 0 + 12
    with pytest.raises(TypeError, match="str"):
        payload_nbytes("text")
    with pytest.raises(TypeError, match="object"):
        payload_nbytes([np.zeros(2), object()])
    assert math.isinf(LinkModel(beta=0).bandwidth)


# Bytes per element of every numeric numpy dtype, written out by hand (not read from numpy).
ITEMSIZE = {
    "bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8,
    "float16": 2, "float32": 4, "float64": 8, "complex64": 8, "complex128": 16,
}


@pytest.mark.parametrize("dtype", sorted(ITEMSIZE))
def test_payload_nbytes_numpy_scalars_and_arrays_report_their_real_size(dtype):
    size = ITEMSIZE[dtype]
    assert payload_nbytes(np.dtype(dtype).type(1)) == size  # a numpy scalar: np.float32(1) is 4 bytes, not 8
    assert payload_nbytes(np.ones(7, dtype=dtype)) == 7 * size
    assert payload_nbytes(np.ones((3, 5), dtype=dtype)) == 15 * size
    assert payload_nbytes(np.ones((4, 6), dtype=dtype)[:, ::2]) == 12 * size  # a strided view: its own elements
    assert payload_nbytes(np.zeros(0, dtype=dtype)) == 0


@pytest.mark.parametrize("dtype", ["longdouble", "clongdouble"])
def test_payload_nbytes_platform_sized_dtypes(dtype):
    size = np.dtype(dtype).itemsize  # 8, 12 or 16 bytes (16, 24 or 32 complex) depending on the platform
    assert payload_nbytes(np.dtype(dtype).type(1)) == size
    assert payload_nbytes(np.ones(3, dtype=dtype)) == 3 * size


@pytest.mark.parametrize(("value", "expected"), [
    (True, 8), (3, 8), (2**70, 8), (2.5, 8), (Fraction(1, 3), 8), (1 + 2j, 16),  # one 64-bit value (two: complex)
    (b"abc", 3), (bytearray(5), 5), (memoryview(np.zeros(4)), 32), (None, 0), ([], 0), ({}, 0),
])
def test_payload_nbytes_python_values(value, expected):
    assert payload_nbytes(value) == expected


def test_payload_nbytes_containers_sum_their_items():
    message = [np.zeros(3, np.float32), {"w": np.float32(1), "n": 7, "seeds": (np.zeros(2, np.uint32), None)}]
    assert payload_nbytes(message) == 12 + (4 + 8 + (8 + 0))
    assert payload_nbytes({"key names are not sent": np.zeros(1)}) == 8
    compressed = topk_compress(np.arange(10.0), 3)
    assert payload_nbytes([compressed, quantize_8bit(np.arange(10.0))]) == (3 * 4 + 3 * 8 + 8) + (10 + 16)


def test_one_payload_nbytes_for_training_and_federated():
    import plsim.federated as F
    from plsim.federated.ledger import RoundTraffic

    assert F.payload_nbytes is payload_nbytes
    traffic = RoundTraffic(0)
    traffic.send_up({"update": np.zeros(5, np.float32), "weight": np.float32(3)})
    traffic.send_down(np.zeros(5))
    assert (traffic.bytes_up, traffic.bytes_down) == (20 + 4, 40)


def test_every_public_name_is_importable_from_plsim_comm_and_from_its_home():
    import plsim.comm as comm

    homes = ("sizes", "cost_models", "collectives", "compression", "measure")
    for name in comm.__all__:
        obj = getattr(comm, name)
        owners = [h for h in homes if name in importlib.import_module(f"plsim.comm.{h}").__all__]
        assert len(owners) == 1, (name, owners)  # one home per name
        assert getattr(importlib.import_module(f"plsim.comm.{owners[0]}"), name) is obj


class _InterruptedGather:
    """The client, except that waiting for results raises KeyboardInterrupt, as the kernel's interrupt button does."""

    def __init__(self, client):
        self._client = client

    def gather(self, *args, **kwargs):
        raise KeyboardInterrupt

    def __getattr__(self, name):
        return getattr(self._client, name)


def _scheduler_keys(dask_scheduler):
    return sorted(map(str, dask_scheduler.tasks))


@pytest.mark.slow
def test_interrupted_ring_allreduce_leaves_no_task_on_the_cluster(client):
    before = set(client.run_on_scheduler(_scheduler_keys))  # the session's cluster may hold other tests' data
    arrays = [np.full(1000, float(r)) for r in range(3)]
    with pytest.raises(KeyboardInterrupt) as interrupted:
        ring_allreduce(arrays, executor=_InterruptedGather(client), length=1000)
    # `interrupted` holds the traceback, and so the function's futures, as IPython holds an interrupted
    # cell's: only cancelling them frees the workers. A cancel is a message: give it a moment.
    deadline = time.monotonic() + 5
    while (left := set(client.run_on_scheduler(_scheduler_keys)) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == set(), f"{len(left)} task(s) of the interrupted ring all-reduce left on the cluster"
    assert interrupted.traceback is not None
    np.testing.assert_allclose(ring_allreduce(arrays, executor=client).values[0], np.full(1000, 1.0))  # the cluster works
