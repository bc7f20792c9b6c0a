"""Dynamic int8 quantisation, stored without pickle and loaded back exactly.

torch's dynamic quantisation replaces every nn.Linear by an int8 version with float activations.
Its packed weights cannot go through `save_pretrained`, and a pickled state dict must not be
loaded (a planted file would run code). So the artifact stores, in one safetensors file, each
quantised Linear's int8 weights with their scale and zero point plus every other tensor in
float32; loading rebuilds the architecture from config.json, quantises it, and puts the stored
int8 weights back (bit-identical, so the variant answers exactly as when it was built).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

QUANTIZED_MARKER = "rai_variant.json"
QUANTIZED_WEIGHTS = "model.int8.safetensors"
FORMAT = "int8-dynamic/1"
_INT8, _SCALE, _ZERO, _AXIS = ".weight.int8", ".weight.scale", ".weight.zero_point", ".weight.axis"


def quantize_dynamic(model: torch.nn.Module) -> torch.nn.Module:
    """Every nn.Linear as a dynamically quantised int8 Linear (CPU)."""
    import warnings

    from torch.ao.quantization import quantize_dynamic as _quantize

    with warnings.catch_warnings():   # torch 2.13 announces the removal of quantised tensors (see README)
        warnings.filterwarnings("ignore", message=".*quantiz.*deprecated", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        return _quantize(model, {torch.nn.Linear}, dtype=torch.qint8)


def _quantized_linears(model: torch.nn.Module) -> dict[str, Any]:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    return {name: m for name, m in model.named_modules() if isinstance(m, DynamicLinear)}


def _weight_tensors(name: str, module: Any) -> dict[str, torch.Tensor]:
    weight, bias = module._weight_bias()
    out = {name + _INT8: weight.int_repr().contiguous()}
    if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        out[name + _SCALE] = weight.q_per_channel_scales().to(torch.float64)
        out[name + _ZERO] = weight.q_per_channel_zero_points().to(torch.int64)
        out[name + _AXIS] = torch.tensor([weight.q_per_channel_axis()], dtype=torch.int64)
    else:
        out[name + _SCALE] = torch.tensor([weight.q_scale()], dtype=torch.float64)
        out[name + _ZERO] = torch.tensor([weight.q_zero_point()], dtype=torch.int64)
    if bias is not None:
        out[name + ".bias"] = bias.detach().float().contiguous()
    return out


def save_quantized(float_model: torch.nn.Module, folder: Path) -> dict[str, Any]:
    """Quantise `float_model` (float32, eval) and write the int8 artifact files into `folder`."""
    from safetensors.torch import save_file

    float_state = {k: v for k, v in float_model.state_dict().items()}
    qmodel = quantize_dynamic(float_model)
    linears = _quantized_linears(qmodel)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in linears.items():
        tensors.update(_weight_tensors(name, module))
    covered = {f"{name}.weight" for name in linears} | {f"{name}.bias" for name in linears}
    for key, value in float_state.items():
        if key not in covered and key not in tensors:
            tensors[key] = value.detach().float().contiguous().clone()
    save_file(tensors, str(Path(folder) / QUANTIZED_WEIGHTS))
    marker = {"format": FORMAT, "quantized_modules": sorted(linears)}
    (Path(folder) / QUANTIZED_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return {"quantized_linear_layers": len(linears)}


def is_quantized_folder(folder: Path) -> bool:
    return (Path(folder) / QUANTIZED_MARKER).is_file()


def _qweight(tensors: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    ints, scale, zero = tensors[name + _INT8], tensors[name + _SCALE], tensors[name + _ZERO]
    if name + _AXIS in tensors:
        axis = int(tensors[name + _AXIS][0])
        return torch._make_per_channel_quantized_tensor(ints, scale, zero, axis)
    return torch._make_per_tensor_quantized_tensor(ints, float(scale[0]), int(zero[0]))


def _put_float_tensors(model: torch.nn.Module, tensors: dict[str, torch.Tensor], folder: Path) -> None:
    """Copy the stored float tensors into the quantised model's parameters and buffers.
    (`load_state_dict` cannot be used: a quantised Linear insists on its own packed keys.)"""
    from audit.errors import ModelLoadError

    params = dict(model.named_parameters(remove_duplicate=False))
    buffers = dict(model.named_buffers(remove_duplicate=False))
    unexpected = sorted(set(tensors) - set(params) - set(buffers))
    missing = sorted(set(params) - set(tensors))
    if unexpected or missing:
        raise ModelLoadError(f"{folder}: int8 variant weights do not fit the architecture "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    with torch.no_grad():
        for key, value in tensors.items():
            target = params.get(key, buffers.get(key))
            target.copy_(value.to(target.dtype))


def load_quantized_model(folder: Path, auto_class: Any) -> torch.nn.Module:
    """The architecture from config.json, quantised, with the stored int8 weights put back."""
    import transformers
    from safetensors.torch import load_file

    from audit.errors import ModelLoadError

    folder = Path(folder)
    try:
        marker = json.loads((folder / QUANTIZED_MARKER).read_text(encoding="utf-8"))
        config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
        tensors = load_file(str(folder / QUANTIZED_WEIGHTS))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{folder}: cannot read the int8 variant: {exc}") from None
    if marker.get("format") != FORMAT:
        raise ModelLoadError(f"{folder}: int8 variant format {marker.get('format')!r}, expected {FORMAT!r}")
    model = quantize_dynamic(auto_class.from_config(config).eval())
    linears = _quantized_linears(model)
    if sorted(linears) != marker.get("quantized_modules"):
        raise ModelLoadError(f"{folder}: the stored int8 layers do not match the architecture in config.json")
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*quantiz.*deprecated", category=UserWarning)
        for name, module in linears.items():
            module.set_weight_bias(_qweight(tensors, name), tensors.get(name + ".bias"))
    _put_float_tensors(model, {k: v for k, v in tensors.items()
                               if not any(k.startswith(f"{n}.") for n in linears)}, folder)
    return model.eval()
