"""Choosing the synonym source at run time: WordNet when it can be found (installing it into the
cache from Debian's wordnet-base when needed), else nearest neighbours in the sentence encoder's
embedding space, recorded as a finding."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from audit.data.resolver import read_text
from audit.errors import DataError
from audit.results import Finding, Severity
from audit.run.suite import Context
from audit.data.wordnet import load_wordnet
from suites.robustness.config import AUTO, LexiconConfig
from suites.robustness.lexicon import EMBEDDING, WORDNET, EmbeddingLexicon, Lexicon, WordNetLexicon
from suites.robustness.text import STOPWORDS, is_alpha_word, word_spans

log = logging.getLogger("audit.robustness")
VOCABULARY_FILES = ("builtin:rt_polarity/rt-polarity.pos", "builtin:rt_polarity/rt-polarity.neg")
MIN_WORD_LENGTH = 3
INSTALL_HINT = ("install Debian's wordnet-base (`apt-get install wordnet-base`, or `make system-deps` as root) "
                "and run `python run_audit.py prepare`, or set robustness.lexicon.wordnet_dir")


@dataclass
class LexiconChoice:
    lexicon: Lexicon
    details: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)


def cache_root(ctx: Context) -> Path:
    """The project cache (the prepared folder's parent): where nltk_data is installed."""
    return Path(ctx.data.prepared_dir).parent


def fallback_vocabulary(ctx: Context, size: int) -> list[str]:
    """The `size` most frequent content words of the bundled rt-polarity corpus."""
    counts: Counter[str] = Counter()
    for ref in VOCABULARY_FILES:
        path = ctx.data.resolve(ref, what="robustness.lexicon vocabulary")
        ctx.data.record(path)
        for line in read_text(path).splitlines():
            counts.update(w.text for w in word_spans(line.lower())
                          if is_alpha_word(w.text) and len(w.text) >= MIN_WORD_LENGTH and w.text not in STOPWORDS)
    return [word for word, _ in counts.most_common(size)]


def choose_lexicon(ctx: Context, cfg: LexiconConfig, texts: Sequence[str],
                   load_encoder: Callable[[], Any]) -> LexiconChoice:
    if cfg.source in (AUTO, WORDNET):
        explicit = ctx.data.resolve(cfg.wordnet_dir, what="robustness.lexicon.wordnet_dir") if cfg.wordnet_dir else None
        found = load_wordnet(cache_root(ctx), explicit)
        if found is not None:      # where and how it was found depend on the host and on earlier runs: logged
            log.info("robustness lexicon: WordNet (%s) at %s", found.how, found.path)
            return LexiconChoice(WordNetLexicon(found.reader, cfg.max_synonyms),
                                 {"source": WORDNET, "sha256": found.sha256})
        if cfg.source == WORDNET:
            raise DataError(f"robustness.lexicon.source: WordNet not found; {INSTALL_HINT}")
    vocabulary = fallback_vocabulary(ctx, cfg.vocabulary_size)
    words = [w.text for text in texts for w in word_spans(text)]
    lexicon = EmbeddingLexicon.build(load_encoder(), words, vocabulary, k=cfg.max_synonyms,
                                     min_similarity=cfg.neighbour_min_similarity)
    details = {"source": EMBEDDING, "vocabulary": len(vocabulary), "min_similarity": cfg.neighbour_min_similarity}
    findings = []
    if cfg.source == AUTO:
        findings.append(Finding(
            severity=Severity.WARN,
            message="WordNet was not found, so synonyms are nearest neighbours in the sentence encoder's embedding "
                    f"space ({len(vocabulary)} rt-polarity words): they can be antonyms or merely related words, "
                    "and the part-of-speech check of valid success is skipped. For WordNet synonyms, "
                    + INSTALL_HINT,
            evidence=details))
    return LexiconChoice(lexicon, details, findings)
