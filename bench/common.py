"""Helpers shared by the benchmarks: timing and MiniLM-based stand-in models."""

from __future__ import annotations

import argparse

import time
from pathlib import Path
from typing import Any, Callable


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def minilm_with_head(model_cls: Any, out: Path, **kwargs: Any) -> Path:
    """MiniLM's real encoder under a seeded random head of `model_cls`, saved as a plain HF folder."""
    import torch
    from transformers import AutoTokenizer

    from tests.tiny_models import minilm_dir

    torch.manual_seed(0)
    model_cls.from_pretrained(minilm_dir(), **kwargs).save_pretrained(out)
    AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(out)
    return out


def emit(result: dict, table: Callable[[dict], str], json_path: Path | None) -> int:
    """Print a bench's table and, when asked, write its JSON; the exit code of `main`."""
    import json

    print(table(result))
    if json_path:
        json_path.write_text(json.dumps(result, indent=2))
    return 0


def add_run_options(parser: "argparse.ArgumentParser") -> None:
    """--threads and --json, the options every benchmark shares."""
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="also write the result here")


def parse_run_options(parser: "argparse.ArgumentParser", argv: list[str] | None) -> "argparse.Namespace":
    """Parse the arguments and apply --threads before any model is loaded."""
    import torch

    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args
