"""One progress bar for long work (training, evaluation), drawn on stderr so stdout stays clean for --json."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def progress_bar(label: str, total: int, *, enabled: bool = True, completed: int = 0, status: str = "",
                 **fields) -> Iterator[Callable[..., None]]:
    """Yields `update(completed=None, advance=0, **fields)`. `status` is a format string over `fields`, shown
    after the count (for example "loss {task.fields[loss]:.3f}"). Disabled, it yields a no-op."""
    if not enabled:
        yield lambda *args, **kwargs: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn(status), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(label, total=total, completed=completed, **fields)

        def update(completed: int | None = None, advance: int = 0, **values) -> None:
            progress.update(task, completed=completed, advance=advance, **values)

        yield update
