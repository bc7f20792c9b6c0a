"""`plan`: run every job against simulated adapters and turn the recorded calls into costs.

Per job: requests per capability and how many the cache already answers, real and padded tokens
from the adapter's own batching, forward/backward passes, FLOPs, peak memory, and a time estimate
= the suite's own work (the dry run's wall time) + model time from this machine's calibrated
throughput + training time of derived models + model loading. Nothing reads model weights.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from audit.config.schema import LoadedConfig, ModelSpec
from audit.models.adapters.loading import weights_dtype
from audit.models.adapters.simulated import BatchRecord, CallRecorder, SimulatedAdapter, load_simulated_adapter
from audit.plan.calibrate import DECODE_SHAPE, Throughput, load_calibrations, machine_key, measure, store_calibration
from audit.plan.recording_trainer import RecordingTrainer
from audit.run.jobs import Job, ModelPool, canonical_order, run_job
from audit.run.runner import Runner

LOAD_BYTES_PER_S = 1.5e9        # safetensors weights from the page cache (the preflight has just read them):
LOAD_FIXED_S = 0.05             # minilm 0.07 s, smollm2-135m 0.37 s measured here; tokenizer, config, construction
HEAD_ONLY_TRAIN_FACTOR = 1.2    # forward + a head-only backward, relative to forward
DP_HOOKS_FACTOR = 1.5           # per-sample gradients on top of a full backward


@dataclass
class SimulatedLoader:
    """The adapter loader of a plan: simulated adapters that record into the current job's recorder."""

    recorder: CallRecorder = field(default_factory=CallRecorder)
    adapters: dict[str, SimulatedAdapter] = field(default_factory=dict)

    def __call__(self, name: str, spec: ModelSpec, prepared_dir: Path, cache_dir: Path | None) -> SimulatedAdapter:
        adapter = load_simulated_adapter(name, spec, prepared_dir, cache_dir, self.recorder)
        adapter.recorder = self.recorder
        self.adapters[adapter.rt.folder] = adapter
        return adapter


@dataclass
class JobPlan:
    key: str
    suite: str
    model: str
    requests: dict[str, int]
    cache_hits: dict[str, int]
    batches: int
    real_tokens: int
    padded_tokens: int
    forward_passes: int
    backward_passes: int
    training_runs: int
    flops: float
    peak_memory_bytes: int
    suite_work_s: float
    adapter_s: float                      # the simulated adapter's own CPU time (tokenising, cache lookups)
    model_s: float
    training_s: float
    load_s: float
    estimate_s: float
    error: str | None = None

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_hits(self) -> int:
        return sum(self.cache_hits.values())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunPlan:
    jobs: list[JobPlan]
    calibrations: dict[str, dict[str, Any]]
    seconds: float                        # how long planning took

    @property
    def estimate_s(self) -> float:
        return sum(j.estimate_s for j in self.jobs)

    @property
    def requests(self) -> int:
        return sum(j.total_requests for j in self.jobs)

    def by_key(self) -> dict[str, JobPlan]:
        return {j.key: j for j in self.jobs}


NOT_ARCHITECTURE = ("_name_or_path", "transformers_version", "name_or_path")   # a copy's path is not its speed


def arch_hash(adapter: SimulatedAdapter) -> str:
    """The architecture's fingerprint: a derived copy (randomised, fine-tuned) shares its base's calibration."""
    config = {k: v for k, v in adapter.rt.model.config.to_dict().items() if k not in NOT_ARCHITECTURE}
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Calibrator:
    """Throughput per architecture (random weights from its config: no checkpoint is read)."""

    def __init__(self, cache_dir: Path, allow_measure: bool) -> None:
        self.cache_dir = cache_dir
        self.allow = allow_measure
        self.known = load_calibrations(cache_dir)
        self.used: dict[str, dict[str, Any]] = {}
        self.shapes: set[tuple[Any, ...]] = set()     # (model, dtype, pass, batch, length) run so far

    def first_at_shape(self, batch: BatchRecord) -> bool:
        """Whether the plan meets `batch`'s shape for the first time (its kernels are built then)."""
        if batch.calls > 1:                           # decoding steps: measured with their warm-up
            return False
        key = (batch.folder, batch.float32, batch.backward, batch.items * batch.rows_per_item, batch.max_length)
        new = key not in self.shapes
        self.shapes.add(key)
        return new

    def get(self, adapter: SimulatedAdapter, float32: bool = False) -> Throughput | None:
        """The throughput of `adapter`'s architecture in its dtype (or in float32, where a call forces it)."""
        dtype = torch.float32 if float32 else adapter.dtype
        key = machine_key(arch_hash(adapter), str(dtype), adapter.device)
        if key not in self.known and self.allow:
            config = adapter.rt.model.config
            model = type(adapter.rt.model)(config)          # random weights of the same architecture
            model.to(adapter.device, dtype=weights_dtype(dtype, adapter.device)).eval()   # as loaded
            self.known[key] = measure(model, int(getattr(config, "vocab_size", 1000) or 1000), adapter.device,
                                      dtype)
            store_calibration(self.cache_dir, key, self.known[key])
            del model
        if key in self.known:
            self.used[key] = asdict(self.known[key])
        return self.known.get(key)


def _params(adapter: SimulatedAdapter) -> int:
    return int(sum(p.numel() for p in adapter.rt.model.parameters()))


def _batch_cost(batch: BatchRecord, adapter: SimulatedAdapter, speed: Throughput | None) -> tuple[float, float, int]:
    """(seconds, FLOPs, activation bytes) of one simulated batch."""
    n_params = _params(adapter)
    flops = 2.0 * n_params * batch.padded_tokens * (3 if batch.backward else 1)
    config = adapter.rt.model.config
    hidden = int(getattr(config, "hidden_size", 256) or 256)
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    width = 2 if adapter.dtype in (torch.bfloat16, torch.float16) else 4
    activations = batch.padded_tokens * hidden * width * 16 + batch.padded_tokens * vocab * 4
    if speed is None:
        return 0.0, flops, activations
    sampling = batch.calls * batch.items * speed.sample_per_row if batch.sampled else 0.0
    if batch.calls > 1 and speed.decode_step > 0:       # decoding: measured steps of `generate`
        extra_rows = max(0, batch.items - DECODE_SHAPE[0])
        per_row = max(speed.decode_per_row, speed.per_token + speed.head_per_position)
        step = speed.decode_step + extra_rows * per_row
        return batch.calls * step + sampling, flops, activations
    seconds = speed.forward_seconds(batch.padded_tokens, batch.max_length) + batch.calls * speed.per_call
    seconds += batch.head_positions * speed.head_per_position + sampling
    return seconds * (speed.backward_ratio if batch.backward else 1.0), flops, activations


def _training_cost(run: dict[str, Any], adapter: SimulatedAdapter | None, speed: Throughput | None) -> tuple[float, float]:
    tokens_per_example = min(run["max_length"], max(4, int(run["mean_chars"] / 4) + 2))
    padded = run["steps"] * run["batch_size"] * min(run["max_length"], int(tokens_per_example * 1.5))
    n_params = _params(adapter) if adapter is not None else 0
    flops = 6.0 * n_params * padded
    if speed is None:
        return 0.0, flops
    factor = HEAD_ONLY_TRAIN_FACTOR if run["train_only"] else speed.backward_ratio
    if run["dp"] and not run["train_only"]:
        factor *= DP_HOOKS_FACTOR
    forward = speed.forward_seconds(padded, tokens_per_example * 1.5) + run["steps"] * speed.per_call
    optimizer = 0.0 if run["train_only"] or run["dp"] else run["steps"] * n_params * speed.optimizer_per_param
    return forward * factor + optimizer, flops


def _weights_bytes(adapter: SimulatedAdapter) -> int:
    width = 2 if adapter.dtype in (torch.bfloat16, torch.float16) and adapter.device != "cpu" else 4
    return _params(adapter) * width


def plan_config(loaded: LoadedConfig, *, calibrate: bool = True, suite_loader: Any = None) -> RunPlan:
    """The plan of every job of `loaded` (suites run against simulated adapters, in canonical order)."""
    started = time.perf_counter()
    loader = SimulatedLoader()
    trainer = RecordingTrainer()
    with tempfile.TemporaryDirectory(prefix="rai-audit-plan-") as scratch:
        runner = Runner(loaded, Path(scratch) / "out", adapter_loader=loader, show_progress=False)
        jobs = runner.plan()
        ctx = runner.run_context()
        ctx = type(ctx)(**{**ctx.__dict__, "cache_dir": Path(scratch) / "cache", "trainer": trainer,
                           **({"suite_loader": suite_loader} if suite_loader else {})})
        pool = ModelPool.for_context(ctx)
        calibrator = Calibrator(loaded.cache_dir, calibrate)
        plans = [plan_job(job, ctx, pool, loader, trainer, calibrator) for job in canonical_order(jobs)]
    return RunPlan(jobs=plans, calibrations=calibrator.used, seconds=round(time.perf_counter() - started, 2))


def plan_job(job: Job, ctx: Any, pool: ModelPool, loader: SimulatedLoader, trainer: RecordingTrainer,
             calibrator: Calibrator) -> JobPlan:
    recorder = CallRecorder()
    loader.recorder = recorder
    fresh_load = not (pool.current and pool.current[0] == job.model)
    for adapter in loader.adapters.values():
        adapter.recorder = recorder
    trainer.runs = []
    ctx.suite_loader(job.suite)          # importing the suite and building the skeleton model are planning's
    pool.get(job.model)                  # own costs (the real run imports at its preflight), not the suite's
    began = time.process_time()          # the suite's own (single-threaded) work, as on an idle machine
    outcome = run_job(ctx, job, pool)
    work = max(0.0, time.process_time() - began - recorder.adapter_seconds)
    result = outcome.suite_result()
    audited = pool.current[1] if pool.current else None
    seconds = flops = 0.0
    peak = 0
    forward = backward = 0
    for batch in recorder.batches:
        owner = _owner(batch, loader, audited)
        if owner is None:
            continue
        speed = calibrator.get(owner, batch.float32)
        s, f, act = _batch_cost(batch, owner, speed)
        if speed is not None and calibrator.first_at_shape(batch):
            s += speed.new_shape
        seconds += s
        flops += f
        peak = max(peak, act)
        backward += int(batch.backward)
        forward += 1
    training_s = 0.0
    for run in trainer.runs:
        base = next((a for a in loader.adapters.values() if a.rt.folder == run["base"]), audited)
        s, f = _training_cost(run, base, calibrator.get(base, float32=True) if base is not None else None)
        training_s += s
        flops += f
        forward += run["steps"]
        backward += run["steps"]
    load_s = 0.0
    if audited is not None and fresh_load:
        load_s = LOAD_FIXED_S + _weights_bytes(audited) / LOAD_BYTES_PER_S
    weights = _weights_bytes(audited) if audited is not None else 0
    return JobPlan(key=job.key, suite=job.suite, model=job.model, requests=recorder.requests,
                   cache_hits=recorder.cache_hits, batches=len(recorder.batches),
                   real_tokens=sum(b.real_tokens for b in recorder.batches),
                   padded_tokens=sum(b.padded_tokens for b in recorder.batches), forward_passes=forward,
                   backward_passes=backward, training_runs=len(trainer.runs), flops=flops,
                   peak_memory_bytes=weights + peak, suite_work_s=round(work, 2),
                   adapter_s=round(recorder.adapter_seconds, 2), model_s=round(seconds, 2),
                   training_s=round(training_s, 2), load_s=round(load_s, 2),
                   estimate_s=round(work + seconds + training_s + load_s, 2),
                   error=result.error if result.status.value == "error" else None)


def _owner(batch: BatchRecord, loader: SimulatedLoader, audited: SimulatedAdapter | None) -> SimulatedAdapter | None:
    return loader.adapters.get(batch.folder) if batch.folder else audited
