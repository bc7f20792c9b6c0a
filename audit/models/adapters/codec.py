"""Non-executable serialisation of cached results (no pickle: a planted cache file must not run code).

A value is stored as JSON with tagged entries for numpy arrays (dtype, shape, base64 bytes of a
numeric dtype only) and for the adapter's result records (a closed list of dataclasses). Decoding
a tag it does not know, or an array of a non-numeric dtype, is an error, never an import.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from typing import Any

import numpy as np

from audit.models.adapters.base import Fill, Generation, LoglikelihoodResult, TokenLogprobs

_TAG = "__t"
_ARRAY = "nd"
_FLOAT = "f"
_TUPLE = "tu"
_RECORD_TYPES: dict[str, type] = {cls.__name__: cls for cls in (Fill, Generation, LoglikelihoodResult, TokenLogprobs)}
_NUMERIC_KINDS = "biuf"   # bool, int, unsigned, float


class CacheDecodeError(ValueError):
    """A stored value is not something this module writes (corrupt or planted)."""


def _pack(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {_TAG: _FLOAT, "v": repr(value)}
    if isinstance(value, np.generic):
        return _pack(value.item())
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"cannot cache an array of dtype {value.dtype}")
        data = np.ascontiguousarray(value)
        return {_TAG: _ARRAY, "dtype": data.dtype.str, "shape": list(data.shape),
                "b64": base64.b64encode(data.tobytes()).decode("ascii")}
    if dataclasses.is_dataclass(value) and type(value).__name__ in _RECORD_TYPES:
        return {_TAG: type(value).__name__,
                "v": {f.name: _pack(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, tuple):
        return {_TAG: _TUPLE, "v": [_pack(v) for v in value]}
    if isinstance(value, list):
        return [_pack(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        if _TAG in value:
            raise TypeError(f"cannot cache a dict with the reserved key {_TAG!r}")
        return {k: _pack(v) for k, v in value.items()}
    raise TypeError(f"cannot cache a value of type {type(value).__name__}")


def _unpack(value: Any) -> Any:
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: _unpack(v) for k, v in value.items()}
    if tag == _FLOAT:
        return float(value["v"])
    if tag == _TUPLE:
        return tuple(_unpack(v) for v in value["v"])
    if tag == _ARRAY:
        dtype = np.dtype(value["dtype"])
        if dtype.kind not in _NUMERIC_KINDS:
            raise CacheDecodeError(f"array of dtype {dtype} in the cache")
        raw = base64.b64decode(value["b64"])
        return np.frombuffer(raw, dtype=dtype).reshape(value["shape"]).copy()
    if tag in _RECORD_TYPES:
        return _RECORD_TYPES[tag](**{k: _unpack(v) for k, v in value["v"].items()})
    raise CacheDecodeError(f"unknown cached record type {tag!r}")


def encode(value: Any) -> bytes:
    return json.dumps(_pack(value), separators=(",", ":"), allow_nan=False).encode("utf-8")


def decode(blob: bytes) -> Any:
    try:
        return _unpack(json.loads(blob))
    except (ValueError, KeyError, TypeError) as exc:
        raise CacheDecodeError(f"unreadable cache entry ({exc})") from None
