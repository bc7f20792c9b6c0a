"""Device -> host copies out of the batch loop: batches return device tensors, one copy at the end.

A `.cpu()`, `.item()` or `bool(tensor)` per batch makes the host wait for the GPU after every batch,
so the next batch cannot be queued while the current one runs. The capability families return
their per-item results as tensors (views of the batch's outputs) from each batch; the runtime hands
the whole call's results to `to_host`, which moves them in one copy per dtype (a concatenation on
the device, then one transfer) and puts numpy arrays in their place. The values are the same bytes.
Index tensors go the other way with `to_device` (non-blocking, so it does not wait for the stream).
Not moved: attention maps (layers x heads x L x L per item would pile up on the GPU; one copy per
batch) and generate (transformers' generate loop checks its stopping criteria on the host every step).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch


def to_device(values: Sequence[Any], device: str | torch.device, dtype: torch.dtype = torch.long) -> torch.Tensor:
    """A host list as a tensor on `device`, copied without waiting for the device's queued work."""
    return torch.tensor(values, dtype=dtype).to(device, non_blocking=True)


def _tensors(value: Any, found: list[torch.Tensor]) -> None:
    if isinstance(value, torch.Tensor):
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _tensors(item, found)


def _rebuild(value: Any, arrays: dict[int, np.ndarray]) -> Any:
    if isinstance(value, torch.Tensor):
        return arrays[id(value)]
    if isinstance(value, tuple):
        return tuple(_rebuild(item, arrays) for item in value)
    if isinstance(value, list):
        return [_rebuild(item, arrays) for item in value]
    return value


def host_arrays(tensors: Sequence[torch.Tensor], concatenate: bool | None = None) -> list[np.ndarray]:
    """Each tensor as a numpy array; tensors on an accelerator (or all, with `concatenate`, as tests
    do on a CPU) move in one concatenated copy per device and dtype."""
    out: list[np.ndarray | None] = [None] * len(tensors)
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for n, t in enumerate(tensors):
        if t.device.type == "cpu" and not concatenate:
            out[n] = t.detach().numpy()
        else:
            groups.setdefault((t.device, t.dtype), []).append(n)
    for members in groups.values():
        flat = torch.cat([tensors[n].detach().reshape(-1) for n in members]).cpu().numpy()
        start = 0
        for n in members:
            size = tensors[n].numel()
            out[n] = flat[start:start + size].reshape(tuple(tensors[n].shape))
            start += size
    return out  # type: ignore[return-value]


def to_host(results: list[Any]) -> list[Any]:
    """`results` with every tensor inside it (at any depth of lists and tuples) a numpy array."""
    found: list[torch.Tensor] = []
    _tensors(results, found)
    if not found:
        return results
    unique = list({id(t): t for t in found}.values())
    arrays = dict(zip((id(t) for t in unique), host_arrays(unique)))
    return _rebuild(results, arrays)
