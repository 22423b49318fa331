"""Statements that compile: a student who copies a statement's code gets Python."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import spec as spec_module
from grader import statements
from grader.errors import SpecError
from grader.settings import Source
from grader.validate import validate

SHIPPED = sorted(p.parent for p in spec_module.ASSIGNMENTS_DIR.glob("*/assignment.toml"))


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_every_code_block_and_inline_call_of_every_statement_compiles(folder: Path) -> None:
    found = [s for path in statements.statements(folder) for s in statements.snippets(path)]
    assert {p.name for p in statements.statements(folder)} == {"statement.es.md", "statement.en.md"}
    assert any(not s.inline for s in found) or any("(" in s.code for s in found)
    assert statements.syntax_problems(folder) == []


def test_the_exams_schedule_line_is_among_the_snippets_checked() -> None:
    # The line that did not compile (a keyword argument before a positional one) is read,
    # wrapped over two Markdown lines, as one call.
    exam = spec_module.ASSIGNMENTS_DIR / "fashion-mnist-polynomial-decay"
    codes = [s.code for s in statements.snippets(exam / "statement.en.md")]
    assert (
        "keras.optimizers.schedules.PolynomialDecay(initial_learning_rate, decay_steps=10, "
        "end_learning_rate=end_learning_rate)"
    ) in codes


def test_a_call_that_does_not_compile_is_named_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "statement.en.md").write_text(
        "# Title\n\n- Schedule: `PolynomialDecay(initial_learning_rate,\n"
        "  decay_steps=10, end_learning_rate)` with defaults.\n"
        "- Shorthand is fine: `BayesianOptimization(MyHyperModel(), ..., max_trials=10)`.\n"
        "\n  ```python\n  def f(x):\n      return x +\n  ```\n"
        "\n```sh\ngrade check my notebook.ipynb (not python)\n```\n",
        encoding="utf-8",
    )
    problems = statements.syntax_problems(tmp_path)
    assert problems == [
        "statement.en.md:3: PolynomialDecay(initial_learning_rate, decay_steps=10, "
        "end_learning_rate): positional argument follows keyword argument",
        "statement.en.md:8: def f(x):: invalid syntax",
    ]


def test_validate_refuses_a_statement_whose_code_does_not_compile(tmp_path: Path) -> None:
    folder = tmp_path / "exam"
    shutil.copytree(spec_module.ASSIGNMENTS_DIR / "fashion-mnist-polynomial-decay", folder)
    statement = folder / "statement.es.md"
    text = statement.read_text(encoding="utf-8")
    statement.write_text(text.replace("end_learning_rate=end_learning_rate)", "end_learning_rate)"))
    with pytest.raises(SpecError, match=r"statement\.es\.md:23: keras\.optimizers\.schedules"):
        validate(Source(folder, cache_dir=tmp_path / "never-used"))
    assert not (tmp_path / "never-used").exists()  # refused before any data or training
