"""Loading a benchmark's data: a file with no records is one clear error naming it, never an empty evaluation."""

import gzip

import pytest

from ponder import tasks
from ponder.errors import InvalidArgumentError


@pytest.mark.parametrize("task", ["gsm8k", "math500", "aime24", "humaneval"])
@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_a_data_file_with_no_records_is_refused_naming_it(tmp_path, task, content):
    path = tmp_path / "empty.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidArgumentError, match=rf"^data file {path} holds no records$"):
        tasks.load(task, data=str(path))


def test_an_empty_gzip_file_is_refused_too(tmp_path):
    path = tmp_path / "empty.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write("")
    with pytest.raises(InvalidArgumentError, match="holds no records"):
        tasks.load("gsm8k", data=str(path))


def test_a_file_of_one_record_loads_it(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text('{"question": "What is 2+3?", "answer": "2+3=5\\n#### 5"}\n')
    [problem] = tasks.load("gsm8k", data=str(path))
    assert problem.answer == "5"


def test_a_limit_below_one_is_refused():
    with pytest.raises(InvalidArgumentError, match="limit=0 must be >= 1"):
        tasks.load("arith", limit=0)
