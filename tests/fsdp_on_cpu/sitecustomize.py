"""Test-only: make Accelerate run FSDP on CPU (gloo) processes. Put this folder first on PYTHONPATH.

Accelerate keeps an FSDP plugin only on GPU-like device types; on CPU it trains plain DDP and
`training.fsdp` would prove nothing. FSDP 2 itself (fully_shard, DTensor collectives) works on gloo, so
this sets the state that a GPU run would have: distributed type FSDP and the plugin kept.
"""

try:
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType
except ImportError:  # not a process that trains
    pass
else:
    _init = AcceleratorState.__init__

    def _init_forcing_fsdp(self, *args, fsdp_plugin=None, **kwargs):
        _init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type = DistributedType.FSDP
            self.fsdp_plugin = fsdp_plugin
            PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    AcceleratorState.__init__ = _init_forcing_fsdp
