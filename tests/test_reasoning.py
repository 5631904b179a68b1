"""The split of a sample into reasoning and content, whole and streamed."""

import random

import pytest

from ponder.errors import InvalidArgumentError
from ponder.models import resolve
from ponder.reasoning import ReasoningMarkers, ReasoningParser, markers_of

MARKERS = ReasoningMarkers()
TRACE = "23+15=39\ncheck 15+23=38, not 39. Wait, 23+15=38\n38/2=19\n</think>\n\nAnswer: 19"


def test_split_whole_text():
    assert MARKERS.split(TRACE, opened=True) == (TRACE.split("</think>")[0].strip(), "Answer: 19")
    # the model opened the block itself (R1 without the template's help)
    assert MARKERS.split("<think>\n1+1=2\n</think>\nAnswer: 2") == ("1+1=2", "Answer: 2")
    # a model that does not think: all content
    assert MARKERS.split("1+1=2\nAnswer: 2") == ("", "1+1=2\nAnswer: 2")


def test_a_missing_end_marker_is_all_reasoning_when_the_block_was_opened():
    cut = "23+15=38\n38/2=19\ncheck 19*2=38 ok\nAnswer: 7"  # cut off while thinking: no answer was given
    assert MARKERS.split(cut, opened=True) == (cut, "")
    assert MARKERS.split("<think>" + cut) == (cut, "")
    assert MARKERS.split(cut, opened=False) == ("", cut)


@pytest.mark.parametrize("opened", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_streamed_split_matches_the_whole_split_for_any_cut_into_deltas(opened, seed):
    """Markers split across deltas (tokens of several characters, or characters one at a time) are found."""
    text = TRACE if opened else "<think>\n" + TRACE
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(text)), 30))
    deltas = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
    parser = ReasoningParser(MARKERS, opened=opened)
    reasoning, content = "", ""
    for delta in deltas:
        r, c = parser.feed(delta)
        reasoning += r
        content += c
    r, c = parser.finish()
    assert (reasoning + r).strip() == MARKERS.split(text, opened)[0]
    assert (content + c).lstrip() == MARKERS.split(text, opened)[1]


def test_streamed_split_holds_back_a_partial_end_marker():
    parser = ReasoningParser(MARKERS, opened=True)
    assert parser.feed("1+1=2\n</th") == ("1+1=2\n", "")  # "</th" may begin the end marker: held back
    assert parser.feed("ink>Answer: 2") == ("", "Answer: 2")
    parser = ReasoningParser(MARKERS, opened=True)
    assert parser.feed("a </t") == ("a ", "")
    assert parser.feed("x") == ("</tx", "")  # it was not the marker after all
    assert parser.finish() == ("", "")
    parser = ReasoningParser(MARKERS, opened=True)
    parser.feed("cut while thinking </thi")
    assert parser.finish() == ("</thi", "")  # the end of the text: nothing more is coming


def test_markers_come_from_the_tokenizer_or_are_given():
    from transformers import AutoTokenizer

    assert markers_of(AutoTokenizer.from_pretrained(resolve("ponder-arith-think"))) == MARKERS
    assert markers_of(AutoTokenizer.from_pretrained(resolve("ponder-arith"))) is None  # it does not think
    assert ReasoningMarkers.parse("<reason>,</reason>") == ReasoningMarkers("<reason>", "</reason>")
    for bad in ("<think>", "a,b,c", ",</think>", "x,x"):
        with pytest.raises(InvalidArgumentError, match="markers"):
            ReasoningMarkers.parse(bad)
