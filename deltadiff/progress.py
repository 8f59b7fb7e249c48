"""A progress bar for long work: description, bar, step/total, it/s, ETA and live figures (loss)."""

from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress as _Rich, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class Progress:
    """`with Progress("train", total=N) as bar: bar.update(loss=0.1)`; silent when enabled=False."""

    def __init__(self, description: str, total: int, start: int = 0, enabled: bool = True):
        self.enabled = enabled
        self._rich = _Rich(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[figures]}"),
            disable=not enabled,
        )
        self._task = self._rich.add_task(description, total=total, completed=start, rate="", figures="")
        self._smooth: dict[str, float] = {}
        self.description, self.total = description, total
        self._plain = enabled and not self._rich.console.is_terminal  # logs and pipes: a line every 30 s instead
        self._last_line = time.monotonic()

    def __enter__(self) -> "Progress":
        self._rich.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._rich.__exit__(*exc)

    def set_total(self, total: int) -> None:
        """Change the expected total (e.g. a time budget's estimate of the steps it leaves room for)."""
        self.total = total
        self._rich.update(self._task, total=total)

    def update(self, advance: int = 1, **figures: float) -> None:
        for k, v in figures.items():  # exponential moving average keeps a noisy loss readable
            self._smooth[k] = v if k not in self._smooth else 0.9 * self._smooth[k] + 0.1 * v
        task = self._rich.tasks[0]
        speed = task.speed
        rate = f"{speed:.2f} it/s" if speed and speed >= 1 else (f"{1 / speed:.2f} s/it" if speed else "")
        text = "  ".join(f"{k} {v:.4g}" for k, v in self._smooth.items())
        self._rich.update(self._task, advance=advance, rate=rate, figures=text)
        done = task.completed >= self.total
        if self._plain and (done or time.monotonic() - self._last_line > 30):
            self._last_line = time.monotonic()
            eta = task.time_remaining
            eta_text = f"ETA {eta / 60:.1f} min" if eta is not None else ""
            print(f"{self.description}: {int(task.completed)}/{self.total} {rate} {eta_text} {text}", flush=True)
