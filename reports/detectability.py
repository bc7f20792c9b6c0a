"""'What this audit could detect': every verdict of a run with its n, minimum detectable effect and power.

Read from the stored run only (gate findings with their `Power`, the comparison's headline metrics
with theirs, and the `selftest` rows), for report.html, compliance.html and the compliance mapping
(NIST MEASURE 2.13: the effectiveness of the TEVV metrics and processes is evaluated).
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.results import AuditRun, Power, Verdict, group_label


@dataclass(frozen=True)
class DetectRow:
    source: str               # "gate", "comparison" or "selftest"
    label: str
    where: str
    verdict: str              # pass / fail / inconclusive (selftest: "detects" / "cannot detect")
    n: int | None
    mde: float | None         # minimum detectable effect at the target power, metric units
    required: float | None    # the distance the verdict must detect
    power: float | None       # power against `required` (selftest: the simulated detection rate)
    can_test: bool
    note: str | None


def _row(source: str, label: str, where: str, verdict: Verdict | None, power: Power | None) -> DetectRow:
    return DetectRow(source=source, label=label, where=where, verdict=verdict.value if verdict else "—",
                     n=power.n if power else None, mde=power.minimum_detectable_effect if power else None,
                     required=power.required_effect if power else None, power=power.power if power else None,
                     can_test=power.can_test if power else False,
                     note=(power.note if power else "no power recorded (schema 2.x run)"))


def detect_rows(run: AuditRun) -> list[DetectRow]:
    """Gates first, then the comparison's tested headlines, then the selftest."""
    rows = [_row("gate", f.gate or f.metric or "", "run", f.verdict, f.power) for f in run.findings if f.gate]
    rows += [_row("gate", f.gate or "", f"{s.suite} / {s.model}", f.verdict, f.power)
             for s in run.suites for f in s.findings if f.gate]
    if run.comparison is not None:
        for c in run.comparison.metrics:
            if c.headline and c.tested and c.same_as is None and c.verdict is not None:
                label = c.metric + (f" [{group_label(c.group)}]" if c.group else "")
                rows.append(_row("comparison", f"{label}: no worsening beyond {c.tolerance:g}",
                                 f"{c.suite} / {c.model}", c.verdict, c.power))
    if run.selftest is not None:
        for r in run.selftest.rows:
            rows.append(DetectRow(source="selftest", label=f"{r.metric}: {r.planted}", where=f"{r.suite} / {r.model}",
                                  verdict="detects" if r.detects else "cannot detect", n=r.n,
                                  mde=r.minimum_detectable_effect, required=r.planted_effect, power=r.detection_rate,
                                  can_test=r.detects,
                                  note=f"detected in {r.detection_rate:.0%} of {r.draws} draws; null false alarms "
                                       f"{r.false_alarm_rate:.0%}"))
    return rows


def has_power_table(run: AuditRun) -> bool:
    return any(r.source != "selftest" and r.n is not None for r in detect_rows(run))
