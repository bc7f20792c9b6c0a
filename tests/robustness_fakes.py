"""Fakes for the robustness suite's unit tests: a bag-of-words classifier whose decision we know,
a bag-of-words sentence encoder, a dictionary lexicon, and a model factory that hands out the
encoder. All record their batched calls, so tests can check batching and budgets."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np

from audit.models.adapters.base import CachePolicy, Capability, ModelKind
from audit.models.adapters.cache import CacheStats

WORDS = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def words_of(text: str) -> list[str]:
    return [w.lower() for w in WORDS.findall(text)]


class BagOfWordsClassifier:
    """p(positive) = sigmoid(bias + sum of word weights); a cache that counts hits like the real one."""

    kind = ModelKind.CLASSIFIER
    capabilities = frozenset({Capability.CLASSIFY, Capability.TOKENIZE, Capability.EMBED})
    device = "cpu"

    def __init__(self, weights: dict[str, float], bias: float = 0.0, name: str = "bow") -> None:
        self.name = name
        self.fingerprint = f"fake-{name}"
        self.weights = weights
        self.bias = bias
        self.calls: list[list[str]] = []          # every classify batch
        self.cache_stats = CacheStats()
        self._cache: dict[str, np.ndarray] = {}

    @property
    def labels(self) -> list[str]:
        return ["negative", "positive"]

    def probs(self, text: str) -> np.ndarray:
        logit = self.bias + sum(self.weights.get(w, 0.0) for w in words_of(text))
        p = 1.0 / (1.0 + np.exp(-logit))
        return np.array([1.0 - p, p])

    def classify(self, texts, *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        texts = list(texts)
        self.calls.append(texts)
        out = []
        computed: set[str] = set()
        for text in texts:
            if cache != CachePolicy.OFF and text in self._cache:
                self.cache_stats.hits += 1
            elif text in computed:
                self.cache_stats.duplicates += 1
            else:
                self.cache_stats.misses += 1
                computed.add(text)
                if cache != CachePolicy.OFF:
                    self._cache[text] = self.probs(text)
            out.append(self.probs(text))
        return np.array(out).reshape(len(texts), 2)

    def model_info(self) -> dict:
        return {"path": f"/fake/{self.name}"}


class BagOfWordsEncoder:
    """Sentence embedding = normalised count vector of hashed words (cosine = word overlap)."""

    kind = ModelKind.ENCODER
    capabilities = frozenset({Capability.EMBED, Capability.TOKENIZE})
    device = "cpu"
    dims = 512

    def __init__(self, name: str = "bow-encoder") -> None:
        self.name = name
        self.fingerprint = f"fake-{name}"
        self.calls: list[list[str]] = []

    def vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dims)
        for w in words_of(text):
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dims] += 1.0
        return v

    def embed(self, texts, *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([self.vector(t) for t in texts]).reshape(len(texts), self.dims)


@dataclass
class DictLexicon:
    """Synonyms and parts of speech from dictionaries (a stand-in for WordNet)."""

    table: dict[str, list[str]]
    parts: dict[str, str] = field(default_factory=dict)      # word -> POS letter
    source: str = "dict"

    def synonyms(self, word: str) -> list[str]:
        return list(self.table.get(word.lower(), []))

    def pos(self, word: str) -> frozenset[str]:
        return frozenset({self.parts[word.lower()]}) if word.lower() in self.parts else frozenset()

    def primary_pos(self, word: str) -> str | None:
        return self.parts.get(word.lower())

    def is_base_form(self, word: str, pos: str) -> bool:
        return not (pos == "n" and word.endswith("s"))

    def is_word(self, word: str) -> bool:
        known = set(self.table) | {s for v in self.table.values() for s in v}
        return word.lower() in known


class FakeFactory:
    """ModelFactory stand-in: `load` hands out the given encoder (and records what was asked)."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.loaded: list[tuple[str, str, str]] = []

    def load(self, name: str, ref: str, kind: str = "auto"):
        self.loaded.append((name, ref, kind))
        return self.encoder

    def resolve(self, ref: str) -> str:
        return ref


class TableEncoder(BagOfWordsEncoder):
    """Sentence embedding = mean of per-word vectors from a table (unknown words: their own
    hashed direction), so single words have designed neighbours and sentences a graded similarity."""

    def __init__(self, table: dict[str, list[float]], name: str = "table-encoder") -> None:
        super().__init__(name)
        self.table = {w: np.asarray(v, dtype=float) for w, v in table.items()}
        self.dims = len(next(iter(table.values()))) + 64

    def vector(self, text: str) -> np.ndarray:
        rows = []
        for w in words_of(text):
            v = np.zeros(self.dims)
            if w in self.table:
                v[:len(self.table[w])] = self.table[w]
            else:
                v[len(next(iter(self.table.values()))) + int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] = 1.0
            rows.append(v)
        return np.mean(rows, axis=0) if rows else np.zeros(self.dims)


class BagOfWordsCausalLM:
    """A causal-LM stand-in for multiple choice: log p(" positive" | prompt) − log p(" negative") is the
    bag-of-words score of the prompt. Records each loglikelihood batch."""

    kind = ModelKind.CAUSAL_LM
    capabilities = frozenset({Capability.LOGLIKELIHOOD, Capability.TOKENIZE})
    device = "cpu"

    def __init__(self, weights: dict[str, float], name: str = "bow-lm") -> None:
        self.name = name
        self.fingerprint = f"fake-{name}"
        self.weights = weights
        self.calls: list[list[tuple[str, str]]] = []

    @property
    def labels(self) -> list[str]:
        return []

    def score(self, prompt: str) -> float:
        return sum(self.weights.get(w, 0.0) for w in words_of(prompt))

    def loglikelihood(self, requests, *, cache: CachePolicy = CachePolicy.PERSIST):
        from audit.models.adapters.base import LoglikelihoodResult

        self.calls.append(list(requests))
        out = []
        for prompt, continuation in requests:
            s = self.score(prompt)
            logit = s if continuation == " positive" else -s
            out.append(LoglikelihoodResult(logprob=-float(np.log1p(np.exp(-logit))), is_greedy=logit > 0, n_tokens=1))
        return out

    def model_info(self) -> dict:
        return {"path": f"/fake/{self.name}"}
