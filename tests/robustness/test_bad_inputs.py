"""Every reader of user files, fed the bad inputs of robustness/cases.py: each must raise a one-line
LegokitError that names the file and the problem, and must never execute pickled code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from robustness.cases import CASES, Case, Env, markdown_table

from legokit.errors import LegokitError

DOCS = Path(__file__).parents[2] / "docs" / "reliability.md"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.area}: {c.what}" for c in CASES])
def test_bad_input_raises_a_one_line_error_naming_the_file(case: Case, tmp_path: Path,
                                                           request: pytest.FixtureRequest) -> None:
    work = tmp_path / "case"
    work.mkdir()
    named, call = case.make(Env(work, request.getfixturevalue))
    with pytest.raises(LegokitError) as err:
        call()
    message = str(err.value)
    assert str(named) in message, message
    assert re.search(case.problem, message), message
    assert "\n" not in message, message
    assert not (work / "PWNED").exists(), "pickled code was executed"


def test_docs_table_lists_every_case() -> None:
    """docs/reliability.md carries the table generated from CASES (`python -m robustness.cases`)."""
    docs = DOCS.read_text(encoding="utf-8")
    missing = [row for row in markdown_table().splitlines() if row not in docs]
    assert not missing, "docs/reliability.md lacks rows:\n" + "\n".join(missing)
