"""Run many scenario variants: in this process, in local worker processes, or on a Dask cluster.

Sweeps and the planner hand over scenario mappings (plain dicts, cheap to ship) and get one
summary back per variant, in order, as its JSON keys and raw values (:func:`sim.summary.as_dict`:
table rows and the planner's objectives read them). A variant the simulator cannot run (an odd
combination, an invalid value) comes back as ``{"error": "..."}`` instead of stopping the batch.
Each chunk's fork backups advance together (:mod:`sim.batch.lockstep`); clusters, forkless saves and old
engines run one by one on the SimPy engine.
"""

from __future__ import annotations

import math
import multiprocessing
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..result import Result
from ..run import run as _run
from ..scenario import validate_scenario
from ..summary import as_dict

CHUNK = 100
"""Runs advanced together in one process (and the most shipped to a worker at once)."""


@dataclass(frozen=True)
class Job:
    """One scenario variant: its mapping, a label for error messages, and the folder for relative paths."""

    data: dict
    source: str = "<scenario>"
    source_dir: str | None = None


def simulate_job(job: Job, timeline: bool = True) -> Result:
    """Validate and simulate one variant (raises on bad input or simulator errors)."""
    scenario = validate_scenario(job.data, source=job.source)
    return _run(scenario, source_dir=Path(job.source_dir) if job.source_dir else None, timeline=timeline)


def run_job(job: Job) -> dict:
    """The summary of one variant, or ``{"error": reason}`` if it cannot be simulated."""
    try:
        return as_dict(simulate_job(job, timeline=False).summary)
    except Exception as exc:  # noqa: BLE001 - a sweep records odd combinations instead of stopping
        return {"error": f"{type(exc).__name__}: {exc}"}


def run_chunk(jobs: Sequence[Job]) -> list[dict]:
    """Summaries of several variants (the unit of work shipped to a worker)."""
    _one_blas_thread()
    return summaries(jobs)


def summaries(jobs: Sequence[Job]) -> list[dict]:
    """Summaries of the jobs, in order: fork backups advanced together, the rest on the engine."""
    from ..prepare import prepare
    from ..run import finish, managed_source
    from . import lockstep

    out: dict[int, dict] = {}  # job index -> its summary
    together: dict[bool, list] = {False: [], True: []}  # by popularity width: uniform/hot set, Zipf
    for k, job in enumerate(jobs):
        try:
            scenario, notes = managed_source(validate_scenario(job.data, source=job.source))
            if scenario.cluster is not None and scenario.cluster.shards > 1:
                out[k] = run_job(job)
                continue
            prepared = prepare(scenario, source_dir=Path(job.source_dir) if job.source_dir else None)
        except Exception:  # noqa: BLE001 - run_job records the reason
            out[k] = run_job(job)
            continue
        if lockstep.supported(prepared) is None:
            together[len(prepared.cow.popularity.probs) > 2].append((k, scenario, notes, prepared))
        else:
            out[k] = run_job(job)
    for group in together.values():
        if len(group) < lockstep.TOGETHER_MIN:
            for k, *_ in group:
                out[k] = run_job(jobs[k])
            continue
        results: list[Result | None]
        try:
            results = list(lockstep.simulate_many([prepared for *_, prepared in group]))
        except Exception:  # noqa: BLE001 - one odd run must not sink the chunk: each alone, errors recorded
            results = [None] * len(group)
        for (k, scenario, notes, _), result in zip(group, results, strict=True):
            if result is None:
                out[k] = run_job(jobs[k])
            else:
                source_dir = Path(jobs[k].source_dir) if jobs[k].source_dir else None
                out[k] = as_dict(finish(scenario, result, notes, source_dir).summary)
    return [out[k] for k in range(len(jobs))]


_blas_limit = None


def _one_blas_thread() -> None:
    """Workers already share the cores: numpy's BLAS must not start threads of its own in each."""
    global _blas_limit
    if _blas_limit is None:
        from threadpoolctl import threadpool_limits

        _blas_limit = threadpool_limits(limits=1)


class Runner:
    """Maps :func:`run_job` over variants serially (workers=1), on a process pool, or on Dask."""

    def __init__(
        self, workers: int = 1, scheduler: str | None = None, chunk_size: int | None = None, progress: bool = False
    ):
        self.workers = max(1, workers)
        self.chunk_size = chunk_size
        self.progress = progress
        self._pool: ProcessPoolExecutor | None = None
        self._client = None
        if scheduler is not None:
            from distributed import Client

            self._client = Client(scheduler, timeout="10s")

    @property
    def parallelism(self) -> int:
        if self._client is not None:
            return max(1, sum(self._client.nthreads().values()))
        return self.workers

    def map(self, jobs: Sequence[Job], desc: str = "runs") -> list[dict]:
        """One summary per job, in the jobs' order."""
        from tqdm import tqdm

        jobs = list(jobs)
        bar = tqdm(total=len(jobs), desc=desc, unit="run", file=sys.stderr, disable=not self.progress, leave=False)
        try:
            if self._client is None and self.workers == 1:
                out = []
                for start in range(0, len(jobs), self.chunk_size or CHUNK):
                    out += summaries(jobs[start : start + (self.chunk_size or CHUNK)])
                    bar.update(len(out) - bar.n)
                return out
            return self._map_chunks(jobs, bar)
        finally:
            bar.close()

    def _map_chunks(self, jobs: list[Job], bar) -> list[dict]:
        size = self.chunk_size or max(1, min(CHUNK, math.ceil(len(jobs) / (self.parallelism * 8))))
        starts = list(range(0, len(jobs), size))
        chunks = [jobs[i : i + size] for i in starts]
        where: dict[Any, int]  # a Dask or a concurrent.futures future -> the first job of its chunk
        done: Iterable[Any]
        if self._client is not None:
            from distributed import as_completed as dask_completed

            where = dict(zip(self._client.map(run_chunk, chunks, pure=False), starts, strict=True))
            done = dask_completed(list(where))
        else:
            pool = self._executor()
            where = {pool.submit(run_chunk, chunk): start for chunk, start in zip(chunks, starts, strict=True)}
            done = as_completed(where)
        by_start: dict[int, list[dict]] = {}
        for future in done:
            chunk = future.result()
            by_start[where[future]] = chunk
            bar.update(len(chunk))
        return [row for start in starts for row in by_start[start]]

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")  # safe beside threads (Dask, tqdm)
            context.set_forkserver_preload(["sim.batch.runner"])
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
