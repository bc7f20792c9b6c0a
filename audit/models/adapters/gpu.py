"""The GPU fast path's sizing and the hardware facts that can change a number.

The token budget of a batch is sized from the memory the GPU has free (after the weights are
loaded) and the model's activation bytes per token, instead of a fixed count; batches there also
keep padding under GPU_MAX_PADDING_WASTE. CPU instruction sets (AVX-512 BF16, AMX) and the GPU's
compute capability pick different kernels, so they are recorded in provenance and in the cache scope;
so is the CPU thread count of a reduced-precision run, whose oneDNN reductions split by thread.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Callable

import torch

GPU_MEMORY_FRACTION = 0.5        # of the free memory, for one batch's activations (the rest: allocator slack)
GPU_MIN_TOKENS = 1_024
GPU_MAX_TOKENS = 1 << 20
GPU_MAX_PADDING_WASTE = 0.10
ISA_FLAGS = ("amx_bf16", "avx512_bf16", "avx512f", "avx2")   # best first


def activation_bytes_per_token(config: Any, dtype: torch.dtype) -> int:
    """Peak transient bytes per token of an inference forward (hidden states, MLP, SDPA without scores)."""
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "n_embd", 0) or 768)
    inner = int(getattr(config, "intermediate_size", 0) or getattr(config, "n_inner", 0) or 4 * hidden)
    width = 2 if dtype in (torch.bfloat16, torch.float16) else 4
    return width * (8 * hidden + 2 * inner)


def memory_token_budget(device: str, bytes_per_token: int,
                        free_bytes: Callable[[str], int] | None = None) -> int:
    """Padded tokens per batch that fit in GPU_MEMORY_FRACTION of the free memory of `device`."""
    free = (free_bytes or cuda_free_bytes)(device)
    tokens = int(free * GPU_MEMORY_FRACTION) // max(1, bytes_per_token)
    return max(GPU_MIN_TOKENS, min(GPU_MAX_TOKENS, tokens))


def cuda_free_bytes(device: str) -> int:
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return int(free)


def cpu_isa(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The best matrix instruction set of this CPU that kernels use (amx_bf16 > avx512_bf16 > ...)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return platform.machine()
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return next((f for f in ISA_FLAGS if f in flags), platform.machine())


def gpu_facts(device: str = "cuda:0") -> dict[str, Any]:
    """Name and compute capability of the GPU `device` (empty without one)."""
    if not (device.startswith("cuda") and torch.cuda.is_available()):
        return {}
    index = torch.device(device).index or 0
    major, minor = torch.cuda.get_device_capability(index)
    return {"gpu": torch.cuda.get_device_name(index), "compute_capability": f"{major}.{minor}"}


def reduced_precision_threads(device: str, dtype: torch.dtype) -> int | None:
    """The torch thread count when it can change a number: bf16/fp16 on a CPU, where oneDNN splits
    its reductions by thread (1 and 2 threads differ in the last bits). None where it cannot."""
    if device.startswith("cpu") and dtype in (torch.bfloat16, torch.float16):
        return torch.get_num_threads()
    return None


def hardware_scope(device: str, dtype: torch.dtype = torch.float32) -> str:
    """What the cache scope records about the hardware: the CPU ISA, the GPU and its capability,
    and the CPU thread count where reduced precision makes results depend on it."""
    facts = gpu_facts(device)
    gpu = f"|{facts['gpu']}|sm{facts['compute_capability']}" if facts else ""
    threads = reduced_precision_threads(device, dtype)
    return f"{cpu_isa()}{gpu}" + (f"|threads={threads}" if threads is not None else "")


def attn_kwargs(requested: str, device: str) -> dict[str, str]:
    """from_pretrained's attn_implementation: as configured, else SDPA on a GPU (the library default on CPU)."""
    if requested != "auto":
        return {"attn_implementation": requested}
    return {"attn_implementation": "sdpa"} if device.startswith("cuda") else {}
