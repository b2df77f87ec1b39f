"""pytest-benchmark suite: every backend, batch size and thread count.

Each benchmark times ``backend.run(batch)`` for one (backend, batch size,
threads) triple, after the backend's scores on that batch have been checked
against the torch reference. Benchmarks run one after another, so load from
elsewhere on the machine biases whichever runs at that moment; for
comparisons use bench/interleaved.py, which interleaves the backends.

``test_score_records`` times ebgan-edge from parsed records, one thread:
``score_records`` (the record kernels) and ``encode()`` + ``score()`` (the
dense path), per precision on the automatic kernel.

    PYTHONPATH=python python -m pytest bench/test_backends.py \\
        --benchmark-max-time=0.2 --benchmark-min-rounds=5
"""

from __future__ import annotations

import backends as bk
import numpy as np
import pytest
import workload as wl

THREADS = (1, 2)


@pytest.mark.parametrize("threads", THREADS, ids=lambda t: f"{t}thr")
@pytest.mark.parametrize("rows", wl.BATCH_SIZES, ids=lambda r: f"{r}rows")
@pytest.mark.parametrize("name", bk.backend_names())
def test_score(benchmark, factory, backend_for, name, rows, threads):
    backend = backend_for(name, threads)
    try:
        factory.prepare(backend, rows)
    except bk.Unavailable as e:
        pytest.skip(f"{name}: {e}")
    bk.apply_threads(threads)
    batch = factory.workload.batch(rows)

    benchmark.group = f"{rows} rows, {threads} thread{'s' if threads > 1 else ''}"
    benchmark.extra_info.update(rows=rows, threads=threads, precision=backend.precision)
    benchmark.extra_info.update(
        {f"backend_{k}": str(v) for k, v in backend.details.items()}
    )
    scores = benchmark(backend.run, batch)

    assert np.asarray(scores).shape == (rows,)


@pytest.mark.parametrize("rows", wl.BATCH_SIZES, ids=lambda r: f"{r}rows")
@pytest.mark.parametrize(
    "name",
    [
        n
        for n in bk.record_backend_names()
        if bk.parse_record_backend(n)[1].startswith(bk.EBGAN_PREFIX)
    ],
)
def test_score_records(benchmark, factory, backend_for, name, rows):
    backend = backend_for(name, 1)
    factory.prepare(backend, rows)
    bk.apply_threads(1)
    records = factory.inputs("records", rows)

    benchmark.group = f"{rows} rows from parsed records, 1 thread"
    benchmark.extra_info.update(rows=rows, threads=1, precision=backend.precision)
    benchmark.extra_info.update(
        {f"backend_{k}": str(v) for k, v in backend.details.items()}
    )
    scores = benchmark(backend.run, records)

    assert np.asarray(scores).shape == (rows,)
