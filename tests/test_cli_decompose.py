"""``chronorag decompose`` through a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

KEYS = ["question", "content", "relation", "start", "end", "granularity", "ordinal", "reference_time"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chronorag.cli", "decompose", *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_json_output():
    out = _cli("Who coached Chelsea before 2011?", "--as-of", "2022-06-15", "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    assert row["content"] == "Who coached Chelsea?"
    assert (row["relation"], row["start"], row["end"], row["granularity"]) == (
        "before",
        None,
        "2010-12-31",
        "year",
    )
    assert row["reference_time"] == "2022-06-15"
    assert row["ordinal"] is None


def test_table_output():
    out = _cli("Who was the first coach of Chelsea in the 1990s?", "--as-of", "2022-06-15")
    assert out.returncode == 0, out.stderr
    for text in (
        "Who was the first coach of Chelsea?",
        "1990-01-01",
        "1999-12-31",
        "decade",
        "first",
        "2022-06-15",
    ):
        assert text in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_file_mode(tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text(
        "Who won in 2019?\n\nWho is the coach now?\nWho coached Chelsea?\n", encoding="utf-8"
    )
    out = _cli("--file", str(questions), "--as-of", "2020-01-01")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [row["question"] for row in rows] == [
        "Who won in 2019?",
        "Who is the coach now?",
        "Who coached Chelsea?",
    ]
    assert all(list(row) == KEYS for row in rows)
    assert rows[0]["start"] == "2019-01-01" and rows[1]["relation"] == "as_of" and rows[2]["end"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [(("   ",), "empty"), (("Who won?", "--as-of", "not-a-date"), "not a date"), ((), "QUESTION"),
     (("--file", "/no/such/file.txt"), "does not exist"), (("Q?", "--file", "x.txt"), "not both")],
)  # fmt: skip
def test_bad_input_is_a_clear_error(args, message):
    out = _cli(*args)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_file_from_stdin():
    command = [sys.executable, "-m", "chronorag.cli", "decompose", "--file", "-", "--as-of", "2020-01-01"]
    out = subprocess.run(command, input="Who won before 2011?\n", capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["end"] == "2010-12-31"


def test_file_with_a_bad_line(tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text("Who won in 2019?\n" + "x " * 6000 + "\n", encoding="utf-8")
    out = _cli("--file", str(questions))
    assert out.returncode == 1
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 2 and "error" in rows[1]
    assert "line 2" in out.stderr and "Traceback" not in out.stderr
