"""Whether bf16 is worth it here: on CPUs without native bf16 (AVX2-only, e.g. many AMD EPYC) autocast
emulates it and runs several times *slower* than fp32, so `auto` settings turn it on only when native."""

from __future__ import annotations

import torch


def bf16_is_native(device: torch.device | str = "cpu") -> bool:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return True


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
