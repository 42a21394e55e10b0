"""Data-parallel training with ``torch.distributed``: the same loop on several processes.

Under ``torchrun --nproc_per_node P script.py`` every process (a *rank*) runs the same
script. ``train_loop`` then wraps the model in ``DistributedDataParallel``, every rank
draws the same global batch from the same seeded generator and keeps its own
``1 / P`` of the rows (``shard``), and DDP averages the gradients across ranks during
``backward``: each step is the step a single process takes on the whole batch, so the
losses agree with a one-process run to float tolerance. The backend is ``gloo`` on CPU
and ``nccl`` on CUDA (each rank on ``cuda:LOCAL_RANK``). Only rank 0 writes checkpoints
and shows a progress bar.

    torchrun --nproc_per_node 2 my_training_script.py      # 2 CPU processes
    torchrun --nproc_per_node 8 my_training_script.py      # 8 GPUs of one node
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["Context", "context", "shard", "mean_across_ranks"]

_RENDEZVOUS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class Context:
    """Where this process stands: ``rank``, ``world_size``, ``local_rank`` (all 0, 1, 0 alone)."""

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank

    @property
    def active(self) -> bool:
        """True when there are several processes."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one that writes files and prints."""
        return self.rank == 0

    def __repr__(self) -> str:
        return f"Context(rank={self.rank}, world_size={self.world_size}, local_rank={self.local_rank})"


def context(device: torch.device) -> Context:
    """This process's ``Context``; starts the process group when ``WORLD_SIZE`` > 1 (torchrun sets it).

    ValueError, before any training, if ``WORLD_SIZE`` says several processes but a
    rendezvous variable is missing (start the script with ``torchrun``).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Context()
    missing = [v for v in _RENDEZVOUS if v not in os.environ]
    if missing:
        raise ValueError(f"WORLD_SIZE={world_size} but {', '.join(missing)} not set: start the script with "
                         f"`torchrun --nproc_per_node {world_size} script.py`, which sets them, or unset WORLD_SIZE.")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Context(rank, world_size, local_rank)


def shard(batch: tuple, ctx: Context) -> tuple:
    """This rank's rows of a global batch: rows ``rank * B/P .. (rank + 1) * B/P`` of each tensor.

    ValueError if the batch's first dimension B is not a multiple of the world size P.
    """
    if not ctx.active:
        return batch
    rows = batch[0].shape[0]
    if rows % ctx.world_size:
        raise ValueError(f"a batch of {rows} rows cannot be split evenly over {ctx.world_size} processes; "
                         f"choose a batch size that is a multiple of {ctx.world_size}.")
    per = rows // ctx.world_size
    return tuple(t[ctx.rank * per:(ctx.rank + 1) * per] for t in batch)


def mean_across_ranks(value: float, ctx: Context) -> float:
    """The mean of ``value`` over all ranks (the value itself in a single process)."""
    if not ctx.active:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size
