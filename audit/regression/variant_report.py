"""The compression audit: each variant against its original, in the run that audited both.

For every model with `variant_of`: the paired comparison of the variant's suite results with the
original's (audit.regression.compare.compare_models, the same tests and correction as a regression check),
the weights' size on disk of both, and CPU latency of both measured through the adapter with the
result cache off. A supported regression becomes a finding (severity `regression.variant_severity`).
The reports are stored in the run (`AuditRun.variants`); renderers only read them.
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch

from audit.models.adapters.base import CachePolicy, Capability, ModelAdapter
from audit.models.resolve import ModelResolver
from audit.regression.compare import compare_models
from audit.regression.status import overall_status
from audit.config.schema import LoadedConfig, ModelSpec
from audit.data.resolver import builtin_path
from audit.errors import AuditUserError
from audit.results import COMPARISON_SOURCE, AuditRun, Estimate, Finding, Severity, Status, VariantReport, group_label

log = logging.getLogger("audit.regression.variant_report")

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")
PROBE_FILE = "rt_polarity/rt-polarity.pos"
Loader = Callable[[str, ModelSpec, Path, "Path | None"], ModelAdapter]


def weights_size(folder: str | Path) -> int | None:
    """Bytes of the weight files in a model folder (None when the folder is not there)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def probe_texts(n: int) -> list[str]:
    """A fixed probe: the first `n` positive rt-polarity sentences bundled with the package."""
    lines = builtin_path(PROBE_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip()][:n]


def _timed_call(adapter: ModelAdapter) -> tuple[str, Callable[[list[str]], Any]]:
    """The capability whose latency is measured: classify, else per-token log-probs, else embed."""
    caps = adapter.capabilities
    if Capability.CLASSIFY in caps:
        return "classify", lambda texts: adapter.classify(texts, cache=CachePolicy.OFF)
    if Capability.LOGLIKELIHOOD in caps:
        return "loglikelihood", lambda texts: adapter.loglikelihood([("", " " + t) for t in texts],
                                                                    cache=CachePolicy.OFF)
    return "embed", lambda texts: adapter.embed(texts, cache=CachePolicy.OFF)


def measure_latency(adapter: ModelAdapter, texts: list[str], repeats: int, threads: int) -> tuple[Estimate, str]:
    """Median milliseconds per example over `repeats` timed passes (after one warm-up pass), the
    min and max as its range; torch runs on `threads` CPU threads meanwhile."""
    capability, call = _timed_call(adapter)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        call(texts)
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            call(texts)
            timings.append((time.perf_counter() - started) * 1000 / len(texts))
    finally:
        torch.set_num_threads(before)
    return Estimate(value=statistics.median(timings), ci_low=min(timings), ci_high=max(timings), n=repeats,
                    ci_method=f"median of {repeats} timed passes (range min-max)"), capability


def _latency(loader: Loader, loaded: LoadedConfig, name: str, texts: list[str], report: VariantReport,
             attr: str) -> None:
    spec = ModelResolver.for_config(loaded).spec(name)
    latency = loaded.config.regression.latency
    adapter = loader(name, spec.model_copy(update={"device": "cpu"}), loaded.cache_dir / "prepared", None)
    try:
        estimate, capability = measure_latency(adapter, texts, latency.repeats, latency.threads)
    finally:
        del adapter
        gc.collect()
    setattr(report, attr, estimate)
    report.latency_probe = {"texts": len(texts), "repeats": latency.repeats, "threads": latency.threads,
                            "capability": capability, "device": "cpu", "result_cache": "off",
                            "source": f"builtin:{PROBE_FILE}"}


def _findings(report: VariantReport, severity: Severity) -> list[Finding]:
    comparison = report.comparison
    if comparison is None:
        return []
    gate = f"variant {report.name} vs {report.base}"
    if comparison.status == Status.ERROR:
        return [Finding(severity=Severity.WARN, gate=gate, message=f"{gate}: not compared ({comparison.message})",
                        evidence={"source": COMPARISON_SOURCE})]
    out = []
    for change in comparison.regressions:
        group = f" [{group_label(change.group)}]" if change.group else ""
        out.append(Finding(
            severity=severity, gate=gate, metric=change.metric,
            message=(f"{gate}: {change.suite} {change.metric}{group} regressed by {change.worse_by:.4g} "
                     f"({change.baseline:.4g} -> {change.candidate:.4g}, {change.test}, adjusted p="
                     f"{change.p_adjusted:.3g}, n={change.n_paired})"),
            evidence={"source": COMPARISON_SOURCE, "difference": change.difference, "ci_low": change.ci_low,
                      "ci_high": change.ci_high,
                      "p_value": change.p_value, "p_adjusted": change.p_adjusted, "tolerance": change.tolerance}))
    if not out:
        out.append(Finding(severity=Severity.INFO, gate=gate,
                           message=f"{gate}: no supported regression in {len(comparison.metrics)} compared metrics",
                           evidence={"source": COMPARISON_SOURCE}))
    return out


def variant_reports(run: AuditRun, loaded: LoadedConfig, loader: Loader, *,
                    measure: bool = True) -> list[VariantReport]:
    """Build the report of every variant in the config that this run audited; record its provenance."""
    spec = loaded.config.regression
    resolver = ModelResolver.for_config(loaded)
    reports = []
    measured: dict[str, Estimate] = {}
    audited = {s.model for s in run.suites}
    for name, model_spec in loaded.config.models.items():
        if model_spec.variant_of is None or name not in audited:
            continue
        base = model_spec.variant_of
        report = VariantReport(name=name, base=base)
        try:
            built = resolver.variant(name)
            report.recipe = built.recipe.as_dict()
            fingerprint = run.provenance.models[name].sha256 if name in run.provenance.models else ""
            run.provenance.derived_models[name] = built.provenance(fingerprint)
            report.size_bytes = weights_size(built.folder)
            report.base_size_bytes = weights_size(built.base_path)
        except AuditUserError as exc:
            report.notes.append(f"the variant could not be rebuilt for its report: {exc}")
        if base in audited:
            report.comparison = compare_models(run, base, name, spec, seed=run.provenance.seed)
        else:
            report.notes.append(f"{base} was not audited in this run, so there is nothing to compare with")
        if measure:
            texts = probe_texts(spec.latency.texts)
            for model, attr in ((name, "latency_ms"), (base, "base_latency_ms")):
                if model in measured:            # an original with several variants is timed once
                    setattr(report, attr, measured[model])
                    continue
                try:
                    _latency(loader, loaded, model, texts, report, attr)
                    measured[model] = getattr(report, attr)
                except AuditUserError as exc:
                    report.notes.append(f"latency of {model} not measured: {exc}")
        reports.append(report)
    return reports


def attach_variants(run: AuditRun, loaded: LoadedConfig, loader: Loader, *, measure: bool = True) -> None:
    """Store the variant reports in `run`, add their findings and update the run's status."""
    reports = variant_reports(run, loaded, loader, measure=measure)
    if not reports:
        return
    run.variants = reports
    severity = Severity(loaded.config.regression.variant_severity)
    for report in reports:
        run.findings.extend(_findings(report, severity))
    if run.status != Status.ERROR:
        run.status = overall_status(run.suites, run.findings)
