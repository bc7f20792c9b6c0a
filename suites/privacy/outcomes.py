"""Per-example outcomes of the membership attacks and the suite's headline metrics.

The audited model's attack scores on each member and non-member are stored with the membership
labels, so `compare` re-computes both runs' AUCs on the same examples (paired DeLong).
"""

from __future__ import annotations

from audit.results import STAT_AUC, Outcomes
from suites.privacy.attacks import LOSS_ATTACK
from suites.privacy.data import Texts
from suites.privacy.metrics import ATTACK_KEY, AUDITED, FPR_KEY, MIA_AUC, MIA_TPR_AT_FPR, MODEL_KEY, AttackEvaluation

# the audited model's loss-attack AUC and TPR at a low FPR (group keys sorted: attack, fpr, model)
HEADLINES = (f"{MIA_AUC}[{ATTACK_KEY}={LOSS_ATTACK};{MODEL_KEY}={AUDITED}]",
             f"{MIA_TPR_AT_FPR}[{ATTACK_KEY}={LOSS_ATTACK};{FPR_KEY}=*;{MODEL_KEY}={AUDITED}]")


def attack_outcomes(ev: AttackEvaluation, members: Texts, non_members: Texts) -> Outcomes:
    """Scores (higher = more likely a member) with labels 1 member / 0 non-member, ids from the data."""
    return Outcomes(metric=MIA_AUC, group={MODEL_KEY: ev.model, ATTACK_KEY: ev.scores.attack},
                    example_ids=list(members.ids) + list(non_members.ids),
                    values=ev.scores.scores.tolist(), statistic=STAT_AUC,
                    labels=[1.0] * len(members) + [0.0] * len(non_members))
