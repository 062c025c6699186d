"""Several processes (GPUs or nodes) under ``torchrun``: PyTorch's DistributedDataParallel.

``torchrun --nproc_per_node N -m audiokit train …`` starts N copies of the command with
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` set; :func:`setup` sees them and joins the
process group (NCCL on GPUs, gloo on CPUs). Each process trains on its share of every
epoch (``DistributedSampler``) and DDP averages the gradients. Only rank 0 validates,
logs, checkpoints and writes files; it broadcasts the validation figures so that every
rank takes the same early-stopping and learning-rate decisions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from audiokit.errors import UsageError


@dataclass
class Dist:
    """This process's place in the job (world 1, rank 0 when not under torchrun)."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """All-reduce (sum) in place; a no-op on one process."""
        if self.enabled:
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
        return t

    def any_flag(self, flag: bool, device) -> bool:
        """True on every rank when it is true on any (a stop request seen by one process)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item() > 0)

    def broadcast_(self, t: torch.Tensor) -> torch.Tensor:
        """Rank 0's values of ``t`` on every rank."""
        if self.enabled:
            torch.distributed.broadcast(t, src=0)
        return t

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()


def from_env() -> Dist:
    """The job as torchrun describes it in the environment (one process otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return Dist()
    return Dist(world=world, rank=int(os.environ.get("RANK", "0")), local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def setup(device_spec: str) -> tuple[Dist, torch.device]:
    """Join the process group when launched by torchrun; returns the job and this process's device."""
    from audiokit.models.deep import resolve_device

    d = from_env()
    if not d.enabled:
        return d, resolve_device(device_spec)
    spec = (device_spec or "auto").lower()
    use_cuda = spec != "cpu" and torch.cuda.is_available()
    if spec.startswith("cuda") and not torch.cuda.is_available():
        resolve_device(spec)  # raises the clear "no GPU" error
    if use_cuda:
        if d.local_rank >= torch.cuda.device_count():
            raise UsageError(f"torchrun started local rank {d.local_rank} but this machine has "
                             f"{torch.cuda.device_count()} GPU(s); use --nproc_per_node {torch.cuda.device_count()}")
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
        d.backend = "nccl"
    else:
        device = torch.device("cpu")
        d.backend = "gloo"
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=d.backend)
    return d, device


def teardown(d: Dist) -> None:
    if d.enabled and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
