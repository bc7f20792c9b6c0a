"""Cheap checks of a model folder before (and while) it loads: each problem one line naming the file.

Nothing here reads the weights: a safetensors header is a few KB of JSON, a tokenizer loads in well
under a second. These catch the folders transformers would load "successfully" into a wrong model
(no tokenizer files: a 5-token tokenizer that turns every word into [UNK]) or would fail on with a
multi-line message (truncated weights, an unknown model_type, remote code, a label-count mismatch).
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

from audit.errors import ModelLoadError

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model",
                   "sentencepiece.bpe.model")
ROUND_TRIP_SENTENCE = "The quick brown fox jumps over the lazy dog, then rests."
HEAD_WEIGHT_RE = re.compile(r"(^|\.)(classifier|score|classifier\.out_proj)\.weight$")
SAFETENSORS_HEADER_LIMIT = 100 << 20


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    """The first line of an exception's text (transformers' messages run to paragraphs of advice)."""
    text = str(exc).strip().splitlines()
    first = text[0].strip() if text else type(exc).__name__
    return first if len(first) <= limit else first[:limit - 1] + "…"


def tokenizer_files(folder: Path) -> list[Path]:
    return [folder / name for name in TOKENIZER_FILES if (folder / name).is_file()]


def check_round_trip(tokenizer: Any, folder: Path) -> None:
    """The tokenizer encodes a plain English sentence without unknown tokens and decodes it back."""
    ids = tokenizer(ROUND_TRIP_SENTENCE, add_special_tokens=False)["input_ids"]
    unk = getattr(tokenizer, "unk_token_id", None)
    unknown = sum(1 for i in ids if unk is not None and i == unk)
    decoded = " ".join(tokenizer.decode(ids, skip_special_tokens=True).split()).casefold()
    words = [w for w in re.findall(r"[a-z]+", ROUND_TRIP_SENTENCE.casefold())]
    lost = [w for w in words if w not in decoded]
    if unknown or lost or not ids:
        raise ModelLoadError(f"{folder}: the tokenizer does not round-trip a test sentence ({unknown} of {len(ids)} "
                             f"tokens unknown, words lost: {', '.join(lost[:4]) or 'none'}); its tokenizer files "
                             f"({', '.join(TOKENIZER_FILES[:3])}, ...) are missing or wrong")


def load_tokenizer(folder: Path, *, trust_remote_code: bool, gguf_file: str | None = None) -> Any:
    """AutoTokenizer from the folder (offline), refused when it has no tokenizer files or fails the round trip."""
    import transformers

    if gguf_file is None and not tokenizer_files(folder):
        raise ModelLoadError(f"{folder}: no tokenizer files ({', '.join(TOKENIZER_FILES)}); transformers would "
                             "build a placeholder tokenizer that turns every word into an unknown token")
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code,
                                                               local_files_only=True, **extra)
    except Exception as exc:  # noqa: BLE001 - any tokenizer failure is this folder's problem, in one line
        raise ModelLoadError(f"{folder}: cannot load the tokenizer: {one_line(exc)}") from None
    check_round_trip(tokenizer, folder)
    return tokenizer


def safetensors_header(path: Path) -> dict[str, Any]:
    """The tensor table of a .safetensors file; a truncated or corrupt file is a ModelLoadError."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) < 8:
            raise ModelLoadError(f"{path}: truncated safetensors file ({size} bytes, no header)")
        (length,) = struct.unpack("<Q", raw)
        if length > min(size - 8, SAFETENSORS_HEADER_LIMIT):
            raise ModelLoadError(f"{path}: truncated or corrupt safetensors file (header of {length} bytes "
                                 f"in a {size}-byte file)")
        try:
            header = json.loads(handle.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModelLoadError(f"{path}: corrupt safetensors file (its header is not JSON)") from None
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + length + end > size:
        raise ModelLoadError(f"{path}: truncated safetensors file ({size} bytes; its header describes "
                             f"{8 + length + end}); copy or download it again")
    return header


def check_config(folder: Path, config: dict[str, Any], *, trust_remote_code: bool) -> list[str]:
    """config.json problems transformers would report in paragraphs: unknown model_type, remote code."""
    problems = []
    where = folder / "config.json"
    if config.get("auto_map") and not trust_remote_code:
        problems.append(f"{where}: auto_map: this model needs its own Python code (remote code); it is never "
                        "run unless the model sets trust_remote_code: true (only for a source you trust)")
    model_type = config.get("model_type")
    if model_type is not None and not config.get("auto_map"):
        from transformers import CONFIG_MAPPING

        if model_type not in CONFIG_MAPPING:
            import transformers

            problems.append(f"{where}: model_type: {model_type!r} is not a model type transformers "
                            f"{transformers.__version__} knows")
    return problems


def check_head(folder: Path, config: dict[str, Any], headers: list[dict[str, Any]]) -> list[str]:
    """A classifier whose config names a different number of labels than its head's weights have."""
    labels = config.get("id2label")
    if not isinstance(labels, dict) or not config.get("architectures"):
        return []
    if not any(str(a).endswith("ForSequenceClassification") for a in config["architectures"]):
        return []
    for header in headers:
        for name, tensor in header.items():
            if name != "__metadata__" and HEAD_WEIGHT_RE.search(name) and tensor.get("shape"):
                rows = int(tensor["shape"][0])
                if rows != len(labels):
                    return [f"{folder / 'config.json'}: id2label: {len(labels)} label(s), but the weights' "
                            f"classification head {name} has {rows} outputs"]
    return []
