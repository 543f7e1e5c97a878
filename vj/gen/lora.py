"""Fusing a LoRA file (an LCM-LoRA) into a loaded pipeline's UNet, for good: no adapter is left behind.

`fuse_lora` goes through diffusers (`load_lora_weights` + `fuse_lora`) where it can and through
`fuse_lora_into_unet`, vj's own fusion of the common UNet layouts, where it cannot.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

ADAPTER = "lcm"

_LORA_SUFFIXES = (
    (".lora_down.weight", ".lora_up.weight"),  # kohya
    (".lora_A.weight", ".lora_B.weight"),  # peft
    (".lora.down.weight", ".lora.up.weight"),  # older diffusers
    ("_lora.down.weight", "_lora.up.weight"),  # diffusers attention processors: attn1.processor.to_q_lora
)


def peft_available() -> bool:
    try:
        import peft  # noqa: F401
    except ImportError:
        return False
    return True


def fuse_lora(pipe: Any, path: Path) -> None:
    """Fuse the LoRA weights in `path` (a .safetensors file) into `pipe`; errors propagate."""
    # diffusers' own path knows every published LoRA layout (text-encoder entries too) but needs peft;
    # vj's fusion covers the UNet layouts LCM-LoRAs use, for machines without peft and files diffusers refuses.
    if peft_available() and _load_with_diffusers(pipe, path):
        pipe.fuse_lora()
        pipe.unload_lora_weights()  # the fused weights stay; the adapter layers go
        return
    from safetensors.torch import load_file

    fuse_lora_into_unet(pipe.unet, load_file(str(path)))


def _load_with_diffusers(pipe: Any, path: Path) -> bool:
    """Load the LoRA as a diffusers adapter; False, with nothing loaded, when diffusers cannot read it."""
    try:
        pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=ADAPTER,
                               local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - an unknown layout; vj's fusion says what is wrong with it
        reason = f"{type(exc).__name__}: {exc}"
    else:
        if any(ADAPTER in names for names in pipe.get_list_adapters().values()):
            return True
        reason = "no key it knows"  # diffusers skips what it does not recognise, silently
    log.info("diffusers cannot load LoRA %s (%s): fusing it with vj's own code", path, reason)
    pipe.unload_lora_weights()
    return False


def _lora_module_name(name: str) -> str:
    """Attention-processor names (attn1.processor.to_out_lora) -> the layer they adapt (attn1.to_out.0)."""
    name = name.replace(".processor.", ".")
    return name + ".0" if name.endswith(".to_out") else name


def _lora_pairs(state: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor, float | None]]:
    """UNet module name (kohya underscores or dotted) -> (down, up, alpha) from kohya or peft LoRA keys."""
    pairs: dict[str, dict[str, Any]] = {}
    for key, value in state.items():
        if key.endswith(".alpha"):
            pairs.setdefault(key[: -len(".alpha")], {})["alpha"] = float(value.item())
            continue
        for down, up in _LORA_SUFFIXES:
            if key.endswith(down):
                pairs.setdefault(_lora_module_name(key[: -len(down)]), {})["down"] = value
                break
            if key.endswith(up):
                pairs.setdefault(_lora_module_name(key[: -len(up)]), {})["up"] = value
                break
        else:
            raise ValueError(f"unrecognised LoRA key {key!r}")
    out = {}
    for name, parts in pairs.items():
        if "down" not in parts or "up" not in parts:
            raise ValueError(f"LoRA entry {name!r} lacks its down or up weight")
        out[name] = (parts["down"], parts["up"], parts.get("alpha"))
    return out


def fuse_lora_into_unet(unet: torch.nn.Module, state: dict[str, torch.Tensor], scale: float = 1.0) -> int:
    """Add each LoRA's (alpha / rank) * up @ down into the UNet weights; returns how many layers changed.

    Handles kohya keys (lora_unet_<module_with_underscores>.lora_down/up/alpha, diffusers block names)
    and peft keys (unet.<module>.lora_A/lora_B). Text-encoder entries are not supported.
    """
    modules = dict(unet.named_modules())
    by_underscore = {name.replace(".", "_"): module for name, module in modules.items()}
    changed = 0
    for name, (down, up, alpha) in _lora_pairs(state).items():
        if name.startswith("lora_unet_"):
            module = by_underscore.get(name[len("lora_unet_"):])
        elif name.startswith("unet."):
            module = modules.get(name[len("unet."):])
        elif name.startswith(("lora_te", "text_encoder")):
            raise ValueError(f"text-encoder LoRA entries are not supported ({name})")
        else:
            module = modules.get(name)
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.Tensor):
            raise ValueError(f"LoRA entry {name!r} matches no layer of this UNet")
        rank = down.shape[0]
        factor = scale * (alpha / rank if alpha is not None else 1.0)
        delta = up.flatten(1).float() @ down.flatten(1).float()
        with torch.no_grad():
            weight += (factor * delta).reshape(weight.shape).to(weight.device, weight.dtype)
        changed += 1
    if changed == 0:
        raise ValueError("the LoRA file holds no UNet weights")
    return changed
