"""Hidden states of chosen layers, with the forward cut after the deepest one ("early exit").

`hidden_states(model, ids, mask, layers=[k])` returns exactly what
`model(..., output_hidden_states=True).hidden_states[k]` holds (0 = embeddings, i = output of block i,
num_layers = output of the final norm), but runs only blocks 0..k-1 and never the vocabulary projection:
for Gemma 3 270M that is 3-6x cheaper than a full forward. `capture_hidden_states` records the same
states during a normal full forward (AlignX needs a middle layer and the logits from one pass).

Why hooks and an exception rather than slicing the layer list: it works for every architecture
(Llama/Gemma/Qwen `model.layers`, BLOOM/GPT-2 `transformer.h`, ...) without copying modules, and the
hooks are disarmed after the forward so gradient-checkpointing recomputation in backward is unaffected.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from crossalign.errors import CrossalignError
from crossalign.models import unwrap


def num_layers(model: nn.Module) -> int:
    return int(unwrap(model).config.get_text_config().num_hidden_layers)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The list of transformer blocks (the first ModuleList as long as the config's layer count)."""
    base = unwrap(model)
    n = num_layers(base)
    for _, module in base.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise CrossalignError(f"cannot find the {n} decoder blocks of {type(base).__name__}; this architecture is not supported")


def check_layer(model: nn.Module, layer: int) -> int:
    """Validate a hidden_states index (0..num_layers); negative indices count from the top like Python."""
    n = num_layers(model)
    k = layer + n + 1 if layer < 0 else layer
    if not 0 <= k <= n:
        raise CrossalignError(
            f"layer {layer} is outside the model: it has {n} layers, so use 0 (embeddings) to {n} (final) or -1"
        )
    return k


class _Stop(Exception):
    pass


class _Recorder:
    """Forward hooks that store hidden_states[k] for the requested k and optionally stop the forward."""

    def __init__(self, model: nn.Module, layers: list[int], stop_after: int | None):
        self.layers = decoder_layers(model)
        self.n = len(self.layers)
        self.wanted = sorted(set(layers))
        self.stop_after = stop_after
        self.states: dict[int, torch.Tensor] = {}
        self.armed = True
        self.handles = []
        if 0 in self.wanted:
            self.handles.append(self.layers[0].register_forward_pre_hook(self._pre_hook, with_kwargs=True))
        for k in self.wanted:
            if 1 <= k <= self.n:
                self.handles.append(self.layers[k - 1].register_forward_hook(self._make_hook(k)))
        if stop_after is not None and stop_after not in self.wanted and stop_after >= 1:
            self.handles.append(self.layers[stop_after - 1].register_forward_hook(self._make_hook(stop_after, store=False)))

    def _pre_hook(self, module, args, kwargs):
        if self.armed:
            self.states[0] = args[0] if args else kwargs["hidden_states"]
            if self.stop_after == 0:
                raise _Stop

    def _make_hook(self, k: int, store: bool = True):
        def hook(module, args, output):
            if not self.armed:  # e.g. recomputation under gradient checkpointing
                return
            if store:
                self.states[k] = output[0] if isinstance(output, (tuple, list)) else output
            if self.stop_after == k:
                raise _Stop

        return hook

    def close(self):
        self.armed = False
        for h in self.handles:
            h.remove()


@contextlib.contextmanager
def capture_hidden_states(model: nn.Module, layers: list[int]) -> Iterator[dict[int, torch.Tensor]]:
    """Record hidden_states[k] for k in `layers` during a full causal-LM forward run inside the block.

    The final entry (k == num_layers, after the final norm) is the bare transformer's output
    (`last_hidden_state`), taken from a hook on it: every position, whatever `logits_to_keep` says."""
    ks = sorted({check_layer(model, k) for k in layers})
    n = num_layers(model)
    rec = _Recorder(model, [k for k in ks if k < n], stop_after=None)
    if n in ks:
        decoder = unwrap(model).base_model

        def decoder_hook(module, args, output):
            if rec.armed:
                rec.states[n] = output[0] if isinstance(output, (tuple, list)) else output.last_hidden_state

        rec.handles.append(decoder.register_forward_hook(decoder_hook))
    try:
        yield rec.states
    finally:
        rec.close()


def hidden_states(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    layers: list[int],
) -> dict[int, torch.Tensor]:
    """{k: hidden_states[k]} for the requested layers, running the blocks only up to the deepest one."""
    ks = sorted({check_layer(model, k) for k in layers})
    n = num_layers(model)
    decoder = unwrap(model).base_model  # the bare transformer: no vocabulary projection
    if ks[-1] == n:  # the final entry is post-norm: run every block, take last_hidden_state
        rec = _Recorder(model, [k for k in ks if k < n], stop_after=None)
        try:
            out = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        finally:
            rec.close()
        states = dict(rec.states)
        states[n] = out.last_hidden_state
        return states
    rec = _Recorder(model, ks, stop_after=ks[-1])
    try:
        decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    except _Stop:
        pass
    finally:
        rec.close()
    return dict(rec.states)
