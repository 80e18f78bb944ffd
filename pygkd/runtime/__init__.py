"""Where and how models run: devices, mixed precision and multi-process data parallelism."""

from pygkd.runtime.device import resolve_device
from pygkd.runtime.distributed import (
    DistributedContext,
    shard_batch,
    start_runtime,
    unwrap_model,
)
from pygkd.runtime.precision import PRECISIONS, Precision

__all__ = ["DistributedContext", "PRECISIONS", "Precision", "resolve_device", "shard_batch",
           "start_runtime", "unwrap_model"]
