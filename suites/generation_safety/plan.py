"""How many prompts and generations a config asks for, per part, before anything is generated.

Why: the `extended` profile is meant to be larger (k = 10, paraphrased and encoded injections, more
planted secrets, more elicitation samples); this says by how much, from the config and the prompt
sets' row counts alone, so it can be checked, shown in provenance and compared with the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from suites.generation_safety.config import BUILTIN, GenerationSafetyConfig
from suites.generation_safety.prompts import BUNDLED, DATA

ROUTES = 3        # leakage: direct request, injected request, echo control (leakage_part.secret_prompts)


@dataclass(frozen=True)
class PartPlan:
    prompts: int        # distinct prompts sent
    generations: int    # generated outputs (prompts x samples)
    max_new_tokens: int


def bundled_rows() -> dict[str, int]:
    """Rows of each bundled prompt file (non-empty lines)."""
    return {name: sum(1 for line in (DATA / file).read_text(encoding="utf-8").splitlines() if line.strip())
            for name, file in BUNDLED.items()}


def plan(cfg: GenerationSafetyConfig, rows: Mapping[str, int] | None = None) -> dict[str, PartPlan]:
    """Per part of `cfg.parts`; `rows` gives the prompt sets' sizes (default: the bundled files, which a
    config naming its own files must pass instead)."""
    if rows is None:
        named = {"toxicity": cfg.toxicity.prompts, "refusal": cfg.refusal.pairs, "injection": cfg.injection.tasks,
                 "elicitation": cfg.leakage.elicitation}
        custom = sorted(k for k, ref in named.items() if ref != BUILTIN)
        if custom:
            raise ValueError(f"plan: pass the row counts of the configured prompt files ({', '.join(custom)})")
        rows = bundled_rows()
    tox, inj, leak = cfg.toxicity, cfg.injection, cfg.leakage
    injected = rows["injection"] * len(inj.placements) * len(inj.variants)
    secrets = len(leak.secrets) * leak.per_kind
    parts = {
        "toxicity": PartPlan(rows["toxicity"], rows["toxicity"] * tox.k, tox.max_new_tokens),
        "refusal": PartPlan(2 * rows["refusal"], 2 * rows["refusal"], cfg.refusal.max_new_tokens),
        "injection": PartPlan(rows["injection"] + injected, rows["injection"] + injected, inj.max_new_tokens),
        "leakage": PartPlan(ROUTES * secrets + rows["elicitation"],
                            ROUTES * secrets + rows["elicitation"] * leak.elicitation_k, leak.max_new_tokens),
    }
    return {p: parts[p] for p in cfg.parts}
