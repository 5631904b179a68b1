"""Reasoning markers and the split of a sample into `reasoning` and `content`.

A thinking model (DeepSeek-R1, Qwen3, QwQ, ponder-arith-think) writes its reasoning between two markers and
then its answer::

    <think>
    23+15=38 ...
    </think>

    Answer: 38

Its markers come from its tokenizer (`markers_of`: `<think>` and `</think>` where both are tokens of the
vocabulary) or are given (`ReasoningMarkers.parse("START,END")`). Where the chat template opens the think block
(R1's and ours do; then the completion starts inside it) the split is told so with `opened`. The rules are
vLLM's deepseek_r1 parser's: text before the end marker is reasoning, text after it content; a sample with no
end marker is all reasoning if its think block was opened (a trace cut off while thinking), else all content.
"""

from __future__ import annotations

from dataclasses import dataclass

from ponder.errors import InvalidArgumentError


@dataclass(frozen=True)
class ReasoningMarkers:
    start: str = "<think>"
    end: str = "</think>"

    def __post_init__(self):
        if not self.start or not self.end or self.start == self.end:
            raise InvalidArgumentError(f"reasoning markers {self.start!r},{self.end!r} must be two different, "
                                       "non-empty strings")

    @classmethod
    def parse(cls, text: str) -> ReasoningMarkers:
        """`START,END` (as --reasoning-markers takes them), e.g. `<think>,</think>`."""
        parts = text.split(",")
        if len(parts) != 2:
            raise InvalidArgumentError(f"reasoning markers {text!r} must be START,END (e.g. '<think>,</think>')")
        return cls(parts[0].strip(), parts[1].strip())

    def opens(self, prompt: str) -> bool:
        """Whether `prompt` ends inside an open think block (its chat template opened it)."""
        return prompt.rfind(self.start) > prompt.rfind(self.end)

    def closes(self, tail: str, text: str) -> tuple[bool, str]:
        """Whether streamed `text` completes the end marker (after `tail`, the characters before it where one may
        have begun), and the new tail to pass with the next text."""
        return found(self.end, tail, text)

    def split(self, text: str, opened: bool = False) -> tuple[str, str]:
        """(reasoning, content) of a completion; `opened`: its prompt opened the think block."""
        at = text.find(self.end)
        if at < 0 and not (opened or text.lstrip().startswith(self.start)):
            return "", text
        reasoning, content = (text, "") if at < 0 else (text[:at], text[at + len(self.end):])
        reasoning = reasoning.lstrip()
        if reasoning.startswith(self.start):
            reasoning = reasoning[len(self.start):]
        return reasoning.strip(), content.lstrip()


def found(marker: str, tail: str, text: str) -> tuple[bool, str]:
    """Whether streamed `text` completes `marker` (after `tail`, the characters before it where the marker may have
    begun), and the new tail to pass with the next text: a scan of the new text only, not of all so far."""
    seen = tail + text
    return marker in seen, seen[max(0, len(seen) - len(marker) + 1):]


def markers_of(tokenizer) -> ReasoningMarkers | None:
    """The tokenizer's reasoning markers: `<think>` and `</think>` where both are single tokens of it, else None
    (a model that does not think)."""
    markers = ReasoningMarkers()
    vocab = tokenizer.get_vocab()
    return markers if markers.start in vocab and markers.end in vocab else None


class ReasoningParser:
    """The split of a streamed completion, delta by delta: each `feed` returns the (reasoning, content) text
    it completes. Text that may begin a marker (its end split across tokens or deltas) waits for the next delta,
    as a stop string's does; `finish` returns what is left."""

    def __init__(self, markers: ReasoningMarkers, opened: bool = False):
        self.markers = markers
        self.thinking = opened
        self.started = opened  # whether a start marker may still come (only before any other text)
        self.pending = ""

    def feed(self, delta: str, final: bool = False) -> tuple[str, str]:
        self.pending += delta
        reasoning, content = [], []
        while self.pending:
            if not self.started:
                head = self.pending.lstrip()
                if head.startswith(self.markers.start):
                    self.pending = head[len(self.markers.start):]
                    self.started = self.thinking = True
                    continue
                if self.markers.start.startswith(head) and not final:
                    break  # may be the start marker still coming
                self.started = True
                continue
            marker = self.markers.end if self.thinking else None
            if marker is None:
                content.append(self.pending)
                self.pending = ""
                break
            at = self.pending.find(marker)
            if at >= 0:
                reasoning.append(self.pending[:at])
                self.pending = self.pending[at + len(marker):]
                self.thinking = False
                continue
            keep = 0 if final else max((k for k in range(len(marker) - 1, 0, -1) if self.pending.endswith(marker[:k])),
                                       default=0)
            reasoning.append(self.pending[:len(self.pending) - keep])
            self.pending = self.pending[len(self.pending) - keep:]
            break
        return "".join(reasoning), "".join(content)

    def finish(self) -> tuple[str, str]:
        return self.feed("", final=True)
