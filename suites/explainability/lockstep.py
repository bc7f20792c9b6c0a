"""Run per-example explainers side by side so their model calls become one batch per round.

shap's Partition explainer and LIME explain one input at a time and call the model from deep
inside their own loops. Each explanation runs here in its own thread, but only one thread runs
at any moment, in a fixed order: a thread runs until it asks for model outputs (or finishes),
then the next one runs. When every thread is waiting, all their requests go to the scorer in one
call, and the threads resume in the same order with their answers. Nothing runs concurrently, so
the libraries' global state is safe; numpy's global generator (shap's tie-breaking) is switched
per explanation, so each one draws from its own seeded stream exactly as if it ran alone, and the
caller's generator state is restored at the end.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

Request = list[tuple[int, np.ndarray]]          # (subject index, keep-vector) pairs
ModelFn = Callable[[np.ndarray], np.ndarray]    # keep matrix -> values, as the libraries call it
Job = Callable[[ModelFn], Any]                  # one explanation, given its model function
GROUP_SIZE = 64                                 # explanations in lockstep at once (threads, memory)


class _Aborted(Exception):
    """Raised inside a parked explanation when another one failed: it unwinds and ends."""


@dataclass
class _Slot:
    subject: int
    go: threading.Event = field(default_factory=threading.Event)
    request: np.ndarray | None = None
    answer: np.ndarray | None = None
    result: Any = None
    error: BaseException | None = None
    done: bool = False
    aborted: bool = False
    rng_state: Any = None


def run_lockstep(jobs: Sequence[tuple[int, int, Job]], score: Callable[[Request], np.ndarray],
                 group_size: int = GROUP_SIZE) -> list[Any]:
    """Run (subject index, numpy seed, job) triples, `group_size` at a time; `score` gets one merged
    request per round of a group."""
    out: list[Any] = []
    for start in range(0, len(jobs), group_size):
        out += _run_group(jobs[start:start + group_size], score)
    return out


def _run_group(jobs: Sequence[tuple[int, int, Job]], score: Callable[[Request], np.ndarray]) -> list[Any]:
    slots = [_Slot(subject) for subject, _, _ in jobs]
    yielded = threading.Event()
    caller_state = np.random.get_state()
    for slot, (_, seed, _) in zip(slots, jobs):
        slot.rng_state = np.random.RandomState(seed % 2**32).get_state()

    def model_fn(slot: _Slot) -> ModelFn:
        def f(keeps: np.ndarray) -> np.ndarray:
            slot.request = np.asarray(keeps, dtype=bool)
            slot.go.clear()
            yielded.set()
            slot.go.wait()
            if slot.aborted:
                raise _Aborted
            answer, slot.answer = slot.answer, None
            return answer
        return f

    def body(slot: _Slot, job: Job) -> None:
        slot.go.wait()
        try:
            slot.result = job(model_fn(slot))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            slot.error = exc
        slot.done = True
        yielded.set()

    threads = [threading.Thread(target=body, args=(slot, job), daemon=True) for slot, (_, _, job) in zip(slots, jobs)]
    for thread in threads:
        thread.start()
    try:
        while True:
            for slot in slots:
                if slot.done:
                    continue
                np.random.set_state(slot.rng_state)
                yielded.clear()
                slot.go.set()
                yielded.wait()
                slot.rng_state = np.random.get_state()
                if slot.error is not None:
                    raise slot.error
            waiting = [s for s in slots if not s.done]
            if not waiting:
                break
            merged: Request = [(s.subject, keep) for s in waiting for keep in s.request]
            values = score(merged)
            start = 0
            for s in waiting:
                s.answer = values[start:start + len(s.request)]
                start += len(s.request)
                s.request = None
    finally:
        np.random.set_state(caller_state)
        for slot in slots:   # end any explanation still parked (only after an error)
            if not slot.done:
                slot.aborted = True
                slot.go.set()
    return [slot.result for slot in slots]
