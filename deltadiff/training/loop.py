"""The one training loop (DESIGN.md: training). Every stage — foundation model, bottleneck P, autoencoder, generator —
is `train(model, loss, dataset, config)`; only the loss and the data differ.

Runs through accelerate: one CPU process, one GPU, or `accelerate launch` on many (DDP). Holds: AdamW with warm-up,
gradient clipping, optional bf16 autocast, EMA (torch's AveragedModel, frozen, eval mode), a rich progress bar with
loss, it/s and ETA, TensorBoard scalars when tensorboard is installed, and a resumable state written atomically
(model, EMA, optimiser, scheduler, step, RNG, data position) via `Accelerator.save_state`.

Data order is a pure function of (seed, batch index), so resuming at step k reads exactly the batches an uninterrupted
run would have read: finite datasets are walked in per-epoch permutations; huge procedural ones (the world) draw
indices per batch.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from deltadiff.progress import Progress

WARMUP_SHARE = 0.1  # under a time budget, warm-up ends after its steps or this share of the budget, whichever first
PERMUTE_LIMIT = 10_000_000  # datasets larger than this are sampled per batch instead of permuted per epoch


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 100
    cosine: bool = True  # cosine decay to 10% after warm-up
    grad_clip: float = 1.0
    ema_decay: float | None = None  # e.g. 0.999; None: no EMA
    mixed_precision: str = "no"  # "no" | "bf16" | "fp16"
    device: str | None = None  # None: CUDA when present, else CPU
    seed: int = 0
    num_workers: int = 0
    checkpoint_every: int = 500
    log_every: int = 10
    # a wall-time budget for the run (all resumed parts together; None: none): training ends at whichever comes first,
    # `steps` or the budget, and the cosine decay follows whichever is further along, so a budgeted run ends at the
    # schedule's end wherever it stops — "as many steps as this machine makes in N minutes" on any CPU or GPU; warm-up
    # ends after `warmup` steps or a tenth of the budget, whichever comes first
    max_minutes: float | None = None
    extra: dict = field(default_factory=dict)  # stage-specific values recorded with the run

    def resolved_device(self) -> str:
        """The device training runs on: `device`, or CUDA when present, else CPU (frozen encoders use it too)."""
        return self.device or ("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TrainState:
    """The part of the resumable state that is not a module: step (the position in the data stream), the seconds
    spent training so far and when warm-up ended (for `TrainConfig.max_minutes`)."""

    step: int = 0
    seconds: float = 0.0
    warm_seconds: float = 0.0

    def state_dict(self) -> dict:
        return {"step": self.step, "seconds": self.seconds, "warm_seconds": self.warm_seconds}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.seconds = float(state.get("seconds", 0.0))  # states written before the budget existed
        self.warm_seconds = float(state.get("warm_seconds", 0.0))


def epoch_of(n: int, batch_size: int, batch: int, world: int = 1) -> tuple[int, int]:
    """(epoch, batch within the epoch) of global batch `batch`; procedural datasets count each batch as an epoch."""
    if n > PERMUTE_LIMIT:
        return batch, 0
    return divmod(batch, max(1, n // (batch_size * world)))


def batch_indices(n: int, batch_size: int, batch: int, seed: int, rank: int = 0, world: int = 1) -> list[int]:
    """Dataset indices of global batch `batch` for process `rank`: a pure function, so resuming is exact."""
    if n > PERMUTE_LIMIT:
        g = torch.Generator().manual_seed(seed * 1_000_003 + batch)
        idx = torch.randint(0, n, (batch_size * world,), generator=g)
        return idx[rank::world].tolist()
    epoch, k = epoch_of(n, batch_size, batch, world)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    start = k * batch_size * world
    return perm[start : start + batch_size * world][rank::world].tolist()


class _Batches(torch.utils.data.IterableDataset):
    """Yields collated batches from `start_batch` on; workers take every num_workers-th batch."""

    def __init__(self, dataset, batch_size: int, seed: int, start_batch: int, rank: int, world: int):
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.start_batch, self.rank, self.world = start_batch, rank, world

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        b = self.start_batch + wid
        while True:
            n = len(self.dataset)
            if hasattr(self.dataset, "set_epoch"):  # e.g. ClipDataset: random clip starts change every epoch
                self.dataset.set_epoch(epoch_of(n, self.batch_size, b, self.world)[0])
            idx = batch_indices(n, self.batch_size, b, self.seed, self.rank, self.world)
            yield torch.utils.data.default_collate([self.dataset[i] for i in idx])
            b += nw


def _atomic_save_state(accelerator, directory: Path) -> None:
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    accelerator.save_state(str(tmp))
    if accelerator.is_main_process:
        old = directory.with_name(directory.name + ".old")
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)


def train(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, dict], torch.Tensor],
    dataset,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    name: str = "train",
    resume: bool = True,
    on_checkpoint: Callable[[nn.Module, int], None] | None = None,
) -> nn.Module:
    """Train `model` to minimise `loss_fn(model, batch)` for `config.steps` steps; return the EMA model (or the model).

    out_dir/state holds the resumable state; an existing one is resumed unless resume=False.
    `on_checkpoint(model_for_export, step)` is called at each checkpoint and at the end (export, sample grids).
    """
    from accelerate import Accelerator

    torch.set_flush_denormal(True)  # denormals in AdamW/backward made CPU training 5–7× slower (EVALUATION.md)
    out_dir = Path(out_dir)
    cpu = config.resolved_device() == "cpu"
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()  # stages in one process (`train all`) may differ in precision; the process group stays
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=cpu)
    torch.manual_seed(config.seed)

    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=config.lr, betas=(0.9, 0.99))

    def lr_lambda(step: int) -> float:
        if step < config.warmup and (budget is None or state.seconds < budget * WARMUP_SHARE):
            return (step + 1) / config.warmup
        if not config.cosine:
            return 1.0
        frac = max(0.0, (step - config.warmup) / max(1, config.steps - config.warmup))
        if budget is not None and state.warm_seconds:  # the share of the budget spent after warm-up, if further along
            frac = max(frac, (state.seconds - state.warm_seconds) / max(1e-9, budget - state.warm_seconds))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

    budget = None if config.max_minutes is None else 60.0 * config.max_minutes
    state = TrainState()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
    model, opt, sched = accelerator.prepare(model, opt, sched)
    ema = None
    if config.ema_decay:
        ema = AveragedModel(accelerator.unwrap_model(model), avg_fn=_ema_fn(config.ema_decay), use_buffers=True)
        ema.eval().requires_grad_(False)
        accelerator.register_for_checkpointing(ema)
    accelerator.register_for_checkpointing(state)
    state_dir = out_dir / "state"
    if resume and state_dir.is_dir():  # only complete states exist under this name (_atomic_save_state)
        accelerator.load_state(str(state_dir))
        accelerator.print(f"resumed {name} from {state_dir} at step {state.step}")

    batches = _Batches(dataset, config.batch_size, config.seed, state.step, accelerator.process_index, accelerator.num_processes)
    loader = torch.utils.data.DataLoader(batches, batch_size=None, num_workers=config.num_workers,
                                         persistent_workers=config.num_workers > 0)
    writer = _tensorboard(out_dir / "logs") if accelerator.is_main_process else None
    (out_dir).mkdir(parents=True, exist_ok=True)
    (out_dir / "train_config.json").write_text(json.dumps(asdict(config), indent=2))

    model.train()
    it = iter(loader)
    out_of_time = budget is not None and state.seconds >= budget
    with Progress(name, total=config.steps, start=state.step, enabled=accelerator.is_main_process) as bar:
        clock, first_step, first_seconds = time.monotonic(), state.step, state.seconds
        while state.step < config.steps and not out_of_time:
            batch = next(it)
            batch = {k: v.to(accelerator.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            with accelerator.autocast():
                loss = loss_fn(model, batch)
            accelerator.backward(loss)
            if config.grad_clip:
                accelerator.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update_parameters(accelerator.unwrap_model(model))
            state.step += 1
            value = loss.item()
            if budget is not None:  # the wall time since the last step (its checkpoint included); every process takes
                # the slowest one's, so all stop (and decay) alike
                now = time.monotonic()
                state.seconds += float(accelerator.reduce(torch.tensor(now - clock, device=accelerator.device), "max"))
                clock = now
                if not state.warm_seconds and (state.step >= config.warmup or state.seconds >= budget * WARMUP_SHARE):
                    state.warm_seconds = state.seconds  # warm-up ended (by steps, or by the clock): the cosine starts
                out_of_time = state.seconds >= budget
                done, spent = state.step - first_step, state.seconds - first_seconds  # this run's pace (shared clock)
                bar.set_total(state.step if out_of_time else
                              min(config.steps, state.step + int((budget - state.seconds) * done / max(spent, 1e-9))))
            bar.update(loss=value)
            if writer is not None and state.step % config.log_every == 0:
                writer.add_scalar(f"{name}/loss", value, state.step)
                writer.add_scalar(f"{name}/lr", sched.get_last_lr()[0], state.step)
            last = state.step == config.steps or out_of_time
            if state.step % config.checkpoint_every == 0 or last:
                _atomic_save_state(accelerator, state_dir)
                if on_checkpoint is not None and accelerator.is_main_process:
                    on_checkpoint(ema.module if ema is not None else accelerator.unwrap_model(model), state.step)
    if writer is not None:
        writer.close()
    if out_of_time and state.step < config.steps:
        accelerator.print(f"{name}: the {config.max_minutes:g}-minute budget ended training at step {state.step} of {config.steps}")
    accelerator.wait_for_everyone()
    final = ema.module if ema is not None else accelerator.unwrap_model(model)
    return final.eval()


def _ema_fn(decay: float):
    """EMA with warm-up: decay min(d, (1 + n)/(10 + n)) after n updates, so a short run's average is not dominated by
    the initial weights (a fixed 0.999 still holds 22% of the step-0 weights after 1,500 steps)."""

    def avg(averaged: torch.Tensor, current: torch.Tensor, n) -> torch.Tensor:
        d = min(decay, (1.0 + float(n)) / (10.0 + float(n)))
        return averaged * d + current * (1.0 - d)

    return avg


def _tensorboard(log_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional; the progress bar still shows the loss
        return None
    return SummaryWriter(str(log_dir))
