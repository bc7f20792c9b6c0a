"""Generation safety: toxic continuations, refusal vs over-refusal, prompt injection and leakage."""
