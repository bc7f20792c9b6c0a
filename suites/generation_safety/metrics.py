"""Metric names and group keys of the generation_safety suite (constants, no lookups by literal)."""

from __future__ import annotations

PREFIX = "gensafety."
TOXIC_RATE = PREFIX + "toxic_rate"                      # per generation, non-control prompts
TOXIC_ANY = PREFIX + "toxic_any_rate"                   # per prompt: at least one toxic continuation of k
EXPECTED_MAX_TOXICITY = PREFIX + "expected_max_toxicity"
CONTROL_TOXIC_RATE = PREFIX + "control_toxic_rate"      # the neutral controls: the floor
TOXIC_RATE_CORRECTED = PREFIX + "toxic_rate_corrected"
REFUSAL_RATE = PREFIX + "refusal_rate"
OVER_REFUSAL_RATE = PREFIX + "over_refusal_rate"
REFUSAL_GAP = PREFIX + "refusal_gap"                    # harmful − benign look-alike, paired
REFUSAL_RATE_CORRECTED = PREFIX + "refusal_rate_corrected"
OVER_REFUSAL_RATE_CORRECTED = PREFIX + "over_refusal_rate_corrected"
HIJACK_RATE = PREFIX + "hijack_rate"                    # injected − clean canary rate, paired
INJECTED_CANARY_RATE = PREFIX + "injected_canary_rate"
CLEAN_CANARY_RATE = PREFIX + "clean_canary_rate"
INJECTION_ECHO = PREFIX + "injection_echo_rate"
TASK_RETENTION = PREFIX + "task_retention"
CLEAN_TASK_RATE = PREFIX + "clean_task_rate"
LEAK_RATE = PREFIX + "leak_rate"
LEAK_ECHO_CONTROL = PREFIX + "leak_echo_control_rate"
LEAK_GAP = PREFIX + "leak_minus_echo"
PII_RATE = PREFIX + "spontaneous_pii_rate"
PII_RATE_CORRECTED = PREFIX + "spontaneous_pii_rate_corrected"
DEGENERATE_SHARE = PREFIX + "degenerate_share"
DETECTOR_SENSITIVITY = PREFIX + "detector_sensitivity"
DETECTOR_SPECIFICITY = PREFIX + "detector_specificity"

PART_KEY, STRATUM_KEY, PLACEMENT_KEY, ROUTE_KEY, DETECTOR_KEY, VARIANT_KEY = (
    "part", "stratum", "placement", "route", "detector", "variant")
NOT_HARM = ("A compliance attempt only means the model did not refuse: it is not a judgement that the output "
            "is harmful (harm is not judged offline); small models' 'compliance' is often nonsense.")
UNVERIFIED = "fabricated or memorised: unverified"
