"""The class summary and the near-identical groups it shows."""

from __future__ import annotations

from pathlib import Path

from grader import similarity, summary
from grader import spec as spec_module
from grader.discover import SubmissionRef
from grader.results import CheckResult, CheckStatus, GradeResult, Status

OWN_CODE = """
class Tuned:
    def schedule(self, step):
        warm = min(1.0, step / 100.0)
        cosine = 0.5 * (1 + math.cos(math.pi * step / 3000))
        return self.base * warm * cosine + self.floor * (1 - cosine)

def pick(values, limit):
    chosen = [v for v in values if v < limit and v % 3 != 1]
    return sorted(chosen, reverse=True)[: len(chosen) // 2 + 1]
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_renamed_and_recommented_copies_are_grouped(tmp_path: Path) -> None:
    original = _write(tmp_path, "ana.py", OWN_CODE)
    disguised = OWN_CODE.replace("warm", "w_up").replace("chosen", "keep").replace("values", "xs")
    copy = _write(tmp_path, "bea.py", "# my own work\n" + disguised.replace("    ", "\t"))
    other = _write(tmp_path, "eva.py", "import numpy as np\n" * 3 + "print(np.arange(10).sum())\n")
    groups = similarity.groups({"ana": original, "bea": copy, "eva": other})
    assert [g.ids for g in groups] == [("ana", "bea")]
    assert groups[0].similarity == 1.0


def test_code_everyone_was_given_does_not_make_a_group(tmp_path: Path) -> None:
    base = _write(tmp_path, "reference.py", OWN_CODE)
    a = _write(tmp_path, "a.py", OWN_CODE + "\nprint('a')\n")
    b = _write(tmp_path, "b.py", OWN_CODE + "\nprint('b')\n")
    assert similarity.groups({"a": a, "b": b}, base=[base]) == []


def _result(
    sid: str, status: Status, score: float, accuracy: float | None, seconds: float
) -> GradeResult:
    checks = (
        CheckResult("structure", "S", CheckStatus.PASSED, 1.0, 1.0, ""),
        CheckResult("optimizer", "O", CheckStatus.FAILED if score < 5 else CheckStatus.PASSED,
                    0.0 if score < 5 else 1.0, 1.0, ""),
    ) if status is Status.GRADED else ()  # fmt: skip
    return GradeResult(
        id=sid, sha256="", assignment="a", budget="smoke", status=status, score=score,
        max_score=10.0, test_accuracy=accuracy, checks=checks, timings={"total": seconds},
        message="" if status is Status.GRADED else "SyntaxError in cell 7",
    )  # fmt: skip


def test_summary_counts_rates_and_lists(tmp_path: Path) -> None:
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    results = [
        _result("ana", Status.GRADED, 9.0, 0.85, 30.0),
        _result("bea", Status.GRADED, 4.0, 0.70, 50.0),
        _result("<script>", Status.ERROR, 0.0, None, 1.0),
    ]
    refs = [
        SubmissionRef(r.id, _write(tmp_path, f"{i}.py", "x = 1\n"), "py")
        for i, r in enumerate(results)
    ]
    data = summary.summarise(results, refs, spec, lang="en")
    assert data["counts"]["graded"] == 2 and data["counts"]["error"] == 1
    assert [b["count"] for b in data["scores"]["bins"]][4] == 1  # 40 %
    assert [b["count"] for b in data["scores"]["bins"]][9] == 1  # 90 %
    rates = {c["id"]: c["rate"] for c in data["checks"]}
    assert rates["structure"] == 1.0 and rates["optimizer"] == 0.5 and rates["schedule"] is None
    assert data["accuracy"]["mean"] == (0.85 + 0.70) / 2
    baseline = data["accuracy"]["baselines"][0]
    assert baseline["at_or_above"] == sum(v >= baseline["test_accuracy"] for v in (0.85, 0.70))
    assert [f["id"] for f in data["failed"]] == ["<script>"]
    assert [s["id"] for s in data["slowest"]] == ["bea", "ana", "<script>"]
    html = summary.render(data)
    assert "&lt;script&gt;" in html and "<script>" not in html  # student ids are escaped
    assert "Near-identical submissions" in html
    path = summary.write(results, refs, spec, tmp_path, lang="en")
    assert path.read_text(encoding="utf-8") == html
