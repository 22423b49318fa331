"""The class summary (`<out>/summary.html`): how the whole batch went, for the instructor.

Score distribution, each check's pass rate, test accuracies against the exam's baselines
and the reference, the submissions that were not graded, the slowest ones, and groups of
near-identical submissions (grader/similarity.py) with the passages each flagged pair
shares. `summarise` computes plain data; the template (templates/summary.html.j2) only lays
it out.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2

from grader import files, i18n, report, similarity, statements
from grader.discover import SubmissionRef
from grader.printable import template_value
from grader.results import CheckStatus, GradeResult, Status
from grader.spec import Spec

SUMMARY_FILE = "summary.html"
TEMPLATE = "summary.html.j2"
BINS = 10  # score histogram: 0-10 %, 10-20 %, ... 90-100 %
SLOWEST = 5


def summarise(
    results: Sequence[GradeResult],
    refs: Sequence[SubmissionRef],
    spec: Spec,
    *,
    lang: str,
) -> dict[str, Any]:
    """Everything summary.html shows, as plain data."""
    graded = [r for r in results if r.status is Status.GRADED]
    return {
        "lang": lang,  # the page's language: its words come from the catalog (grader/i18n)
        "assignment": spec.title.get(lang) or spec.title.get(i18n.FALLBACK) or spec.id,
        "budget": results[0].budget if results else "",
        "counts": {
            "total": len(results),
            **{s.value: sum(r.status is s for r in results) for s in Status},
        },
        "scores": _scores(graded, spec.max_score),
        "checks": _checks(graded, spec, lang),
        "accuracy": _accuracy(graded, spec),
        "failed": [
            {"id": r.id, "status": r.status.value, "message": _first_line(r.message)}
            for r in sorted(results, key=lambda r: r.id)
            if r.status is not Status.GRADED
        ],
        "slowest": [
            {"id": r.id, "seconds": r.timings["total"], "status": r.status.value}
            for r in sorted(
                (r for r in results if "total" in r.timings),
                key=lambda r: -r.timings["total"],
            )[:SLOWEST]
        ],
        "similar": _similar({ref.id: ref.path for ref in refs}, spec, lang),
        "similarity": {"threshold": similarity.THRESHOLD, "shingle": similarity.SHINGLE},
    }


def _similar(files: dict[str, Path], spec: Spec, lang: str) -> list[dict[str, Any]]:
    """The near-identical groups, what every student was given set aside (the reference,
    the starter files, the statements' code), each flagged pair with the passages it
    shares, placed in the language's words."""
    words = i18n.table("summary", lang)

    def place(sid: str, cell: int | None, first: int, last: int) -> str:
        where = words["lines_in_cell"] if cell else words["lines"]
        return f"{sid}: " + where.format(cell=cell, first=first, last=last)

    found = similarity.groups(
        files, base=[spec.reference, *spec.starter], base_texts=statements.code(spec.directory)
    )
    out = []
    for group in found:
        data = asdict(group)
        data["pairs"] = [
            {
                "a": pair.a,
                "b": pair.b,
                "similarity": pair.similarity,
                "passages": [
                    {
                        "where": words["passage"].format(
                            first_place=place(pair.a, p.cell, p.first, p.last),
                            second_place=place(pair.b, p.other_cell, p.other_first, p.other_last),
                        ),
                        "code": "\n".join(p.code),
                    }
                    for p in pair.passages
                ],
            }
            for pair in group.pairs
        ]
        out.append(data)
    return out


def _first_line(message: str) -> str:
    # An empty message (or one of line breaks only) must not stop the class summary.
    return (message.splitlines() or [""])[0][:200]


def _scores(graded: Sequence[GradeResult], max_score: float) -> dict[str, Any]:
    percents = [r.percent for r in graded]
    counts = [0] * BINS
    for p in percents:
        counts[min(BINS - 1, int(p // (100 / BINS)))] += 1
    width = 100 // BINS
    return {
        "max_score": max_score,
        "bins": [
            {"label": f"{i * width}–{(i + 1) * width} %", "count": c} for i, c in enumerate(counts)
        ],
        "peak": max(counts) if counts else 0,
        **_stats([r.score for r in graded]),
    }


def _checks(graded: Sequence[GradeResult], spec: Spec, lang: str) -> list[dict[str, Any]]:
    rows = []
    for item in spec.rubric:
        found = [c for r in graded for c in r.checks if c.id == item.id]
        passed = sum(c.status is CheckStatus.PASSED for c in found)
        rows.append(
            {
                "id": item.id,
                "title": item.title_in(lang),
                "hidden": item.hidden,
                "passed": passed,
                "failed": sum(c.status is CheckStatus.FAILED for c in found),
                "skipped": sum(c.status is CheckStatus.SKIPPED for c in found),
                "review": sum(c.status is CheckStatus.NEEDS_REVIEW for c in found),
                "rate": passed / len(found) if found else None,
            }
        )
    return rows


def _accuracy(graded: Sequence[GradeResult], spec: Spec) -> dict[str, Any]:
    values = [r.test_accuracy for r in graded if r.test_accuracy is not None]
    reference = next(
        (r.reference_test_accuracy for r in graded if r.reference_test_accuracy is not None), None
    )
    return {
        **_stats(values),
        "reference": reference,
        "baselines": [
            {
                "name": b.name,
                "test_accuracy": b.test_accuracy,
                "at_or_above": sum(v >= b.test_accuracy for v in values),
            }
            for b in spec.baselines
        ],
    }


def _stats(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "mean": None, "median": None, "min": None, "max": None}
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def render(context: dict[str, Any], templates: Path = report.TEMPLATES_DIR) -> str:
    """The page for `summarise`'s data, in its language (`context["lang"]`, else English).

    The template gets `s` (the data), `t` (the catalog's [summary] words) and `ui` (the
    report's labels: statuses), and nothing else; numbers go through i18n.number.
    """
    lang = i18n.require(context.get("lang") or i18n.FALLBACK)
    ui = report.UI[lang]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=True,  # ids and messages come from students
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=template_value,  # ... and so do control characters (grader/printable.py)
    )
    # Numbers as the reports and messages of the same language write them.
    env.filters["pct"] = lambda x: "—" if x is None else i18n.percent(x, lang)
    env.filters["num"] = lambda x: "—" if x is None else i18n.number(round(x, 2), lang)
    env.filters["secs"] = lambda x: "—" if x is None else i18n.number(x, lang, 1)
    return env.get_template(TEMPLATE).render(s=context, t=i18n.table("summary", lang), ui=ui)


def write(
    results: Sequence[GradeResult],
    refs: Sequence[SubmissionRef],
    spec: Spec,
    out: Path,
    *,
    lang: str,
) -> Path:
    """Compute and write `<out>/summary.html` atomically."""
    text = render(summarise(results, refs, spec, lang=lang))
    return files.atomic_write(out / SUMMARY_FILE, text.encode("utf-8"))
