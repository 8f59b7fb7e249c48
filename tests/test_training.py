"""The training loop: it learns, resumes exactly, and its data order is a pure function of (seed, batch)."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from deltadiff.training import TrainConfig, batch_indices, train


class Linear(torch.utils.data.Dataset):
    def __init__(self, n=64):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


def mse(model, batch):
    return ((model(batch["x"]).squeeze(-1) - batch["y"]) ** 2).mean()


def _run(tmp, steps, resume=True, ema=None, seed=0):
    torch.manual_seed(seed)
    model = nn.Linear(4, 1)
    cfg = TrainConfig(steps=steps, batch_size=8, lr=0.05, warmup=2, checkpoint_every=5, ema_decay=ema, device="cpu")
    return train(model, mse, Linear(), cfg, tmp, resume=resume)


def test_learns(tmp_path):
    model = _run(tmp_path, 150)
    assert mse(model, Linear()[:]) < 1e-2
    assert (tmp_path / "state").is_dir() and not (tmp_path / "state.tmp").exists()


def test_resume_matches_uninterrupted_run(tmp_path):
    full = _run(tmp_path / "full", 12, ema=0.9)
    cfg = TrainConfig(steps=12, batch_size=8, lr=0.05, warmup=2, checkpoint_every=5, ema_decay=0.9, device="cpu")
    calls = {"n": 0}

    def crashing(model, batch):  # dies during step 8, after the checkpoint at step 5
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return mse(model, batch)

    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train(nn.Linear(4, 1), crashing, Linear(), cfg, tmp_path / "cut")
    torch.manual_seed(123)  # a different fresh init must not matter: the state is restored
    resumed = train(nn.Linear(4, 1), mse, Linear(), cfg, tmp_path / "cut")
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_batch_indices_are_pure_and_cover_epochs():
    assert batch_indices(64, 8, 3, seed=1) == batch_indices(64, 8, 3, seed=1)
    assert batch_indices(64, 8, 3, seed=1) != batch_indices(64, 8, 3, seed=2)
    epoch0 = sum((batch_indices(64, 8, b, seed=0) for b in range(8)), [])
    assert sorted(epoch0) == list(range(64))  # one epoch = a permutation
    assert sum((batch_indices(64, 8, b, seed=0) for b in range(8, 16)), []) != epoch0  # next epoch reshuffles
    r0, r1 = batch_indices(64, 4, 0, 0, rank=0, world=2), batch_indices(64, 4, 0, 0, rank=1, world=2)
    assert len(r0) == len(r1) == 4 and not set(r0) & set(r1)  # ranks read disjoint samples
    big = batch_indices(10**9, 8, 5, seed=0)  # procedural datasets: drawn per batch
    assert len(big) == 8 and big == batch_indices(10**9, 8, 5, seed=0)


def test_loop_advances_dataset_epochs(tmp_path):
    seen = []

    class Epochs(Linear):
        def set_epoch(self, epoch):
            seen.append(epoch)

    cfg = TrainConfig(steps=20, batch_size=8, lr=0.01, warmup=1, checkpoint_every=100, device="cpu")
    train(nn.Linear(4, 1), mse, Epochs(), cfg, tmp_path)  # 64 samples / batch 8 = 8 batches per epoch
    assert seen[:9] == [0] * 8 + [1] and max(seen) == 2



def slow_mse(model, batch):  # 20 ms a step: a 0.5-second budget ends a 1,000-step run long before its end
    time.sleep(0.02)
    return mse(model, batch)


def _saved(run):
    """The saved scheduler's last learning rate and the loop's own state (TrainState) of a run folder."""
    last_lr = torch.load(run / "state" / "scheduler.bin", weights_only=False)["_last_lr"][0]
    return last_lr, torch.load(next((run / "state").glob("custom_checkpoint_*.pkl")), weights_only=False)


def _budgeted(warmup):
    return TrainConfig(steps=1000, batch_size=8, lr=0.05, warmup=warmup, checkpoint_every=500, device="cpu",
                       max_minutes=0.5 / 60)


def test_time_budget_ends_the_run_and_its_schedule(tmp_path):
    exported = []
    train(nn.Linear(4, 1), slow_mse, Linear(), _budgeted(2), tmp_path, on_checkpoint=lambda m, step: exported.append(step))
    assert len(exported) == 1 and 5 <= exported[0] < 100  # stopped by the clock, and the model exported there
    last_lr, state = _saved(tmp_path)
    assert 0.1 * 0.05 - 1e-9 <= last_lr < 0.2 * 0.05  # the cosine followed the clock to (near) its floor
    assert state["seconds"] >= 0.5 and state["step"] == exported[0]
    train(nn.Linear(4, 1), slow_mse, Linear(), _budgeted(2), tmp_path, on_checkpoint=lambda m, step: exported.append(step))
    assert len(exported) == 1  # resumed with the budget spent: no further step


def test_time_budget_ends_a_long_warm_up_by_the_clock(tmp_path):
    """500 warm-up steps would outlast a 0.5-second budget at 20 ms a step: warm-up ends at a tenth of the budget and
    the cosine still reaches its floor (without that, the run would stop at ~5 % of the peak learning rate)."""
    train(nn.Linear(4, 1), slow_mse, Linear(), _budgeted(500), tmp_path)
    last_lr, state = _saved(tmp_path)
    assert 0.1 * 0.05 - 1e-9 <= last_lr < 0.2 * 0.05
    assert 0.05 <= state["warm_seconds"] < 0.15 and state["step"] < 100  # warm-up ended by the clock
