"""The live view of `ponder solve` in a terminal: every sample as it grows (a thinking model's text dimmed while
it thinks, plain once it answers), and the vote tally so far.

`Watched` wraps any Generator and sees every event of every stream a strategy opens, so the view works for
every strategy without the strategies knowing about it; outside a `with` block it only keeps count (the
server's progress chunks read `progress()`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

from ponder.backends.base import Generator, Prompt, SamplingParams, Stream

ROWS = 16  # samples shown at once (the latest ones)


class Watched:
    """A Generator that shows what `generator` does; use as a context manager around the strategy's run."""

    def __init__(self, generator: Generator, extract: Callable[[str], Any], title: str):
        self.generator = generator
        self.name = generator.name
        self.usage = generator.usage
        self.tokenizer = getattr(generator, "tokenizer", None)  # what a run's cost cap counts prompts with
        self.markers = getattr(generator, "markers", None)
        self.continues = getattr(generator, "continues", True)
        self.shares_prompt = getattr(generator, "shares_prompt", True)
        self.extract = extract
        self.title = title
        self.samples: list[dict] = []
        self._live = None

    async def submit(self, prompt: Prompt, params: SamplingParams, prefix: str = "") -> Stream:
        inner = await self.generator.submit(prompt, params, prefix)
        rows = [{"text": prefix, "tokens": 0, "state": "running", "thinking": inner.thinking, "tail": ""}
                for _ in range(inner.n)]
        self.samples += rows

        async def events():
            async for event in inner:
                outer.usage.prompt = inner.usage.prompt  # a remote server reports its prompt tokens late
                row = rows[event.index]
                row["text"] += event.text
                row["tokens"] += event.tokens
                if row["thinking"]:  # until its end marker: a scan of the new text only, not of the whole
                    closed, row["tail"] = inner.markers.closes(row["tail"], event.text)
                    row["thinking"] = not closed
                if event.finished:
                    row["state"] = event.finish_reason
                    if event.finish_reason != "abort":  # read once, not at every refresh
                        row["answer"] = self.extract(inner.split(row["text"][len(prefix):])[1])
                self._refresh()
                yield event
        # counts its prompt as the inner stream counts it: the strategy reads this one
        outer = Stream(events(), inner.n, inner.usage.prompt, abort=inner.abort, markers=inner.markers,
                       opened=inner.opened, prefix=inner.prefix)
        return outer

    async def score(self, prompt: Prompt, continuation: str | list[str], prefix: str = ""
                    ) -> list[float] | list[list[float]]:
        return await self.generator.score(prompt, continuation, prefix)

    def load(self) -> dict:
        return self.generator.load()

    def close(self) -> None:
        """A view owns nothing: the generator it watches is closed by whoever built it."""

    def progress(self) -> dict:
        """Samples started and finished so far, and the tally of their answers (most votes first)."""
        tally = Counter(str(row["answer"]) for row in self.samples if row.get("answer") is not None)
        return {"samples_started": len(self.samples),
                "samples_finished": sum(row["state"] not in ("running", "abort") for row in self.samples),
                "tally": dict(tally.most_common())}

    def __enter__(self) -> Watched:
        from rich.console import Console
        from rich.live import Live

        self._live = Live(self._render(), console=Console(stderr=True), refresh_per_second=8, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._refresh()
        self._live.__exit__(*exc)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self):
        from rich.table import Table
        from rich.text import Text

        table = Table(title=self.title, expand=True)
        for column, kwargs in (("#", {"justify": "right"}), ("state", {}), ("tokens", {"justify": "right"}),
                               ("answer", {"justify": "right"}), ("latest text", {"ratio": 1, "no_wrap": True})):
            table.add_column(column, **kwargs)
        tally = self.progress()["tally"]
        first = max(len(self.samples) - ROWS, 0)
        for i, row in enumerate(self.samples[first:], first):
            answer = row.get("answer")
            style = {"running": "cyan", "abort": "dim"}.get(row["state"], "")
            latest = Text(row["text"].replace("\n", " | ")[-80:], style="dim italic" if row["thinking"] else "")
            table.add_row(str(i), "thinking" if row["thinking"] and row["state"] == "running" else row["state"],
                          str(row["tokens"]), "" if answer is None else str(answer), latest, style=style)
        votes = ", ".join(f"{a}: {n}" for a, n in list(tally.items())[:6]) or "none yet"
        table.caption = f"{len(self.samples)} samples started; votes {votes}"
        return table
