"""The language catalogs (grader/i18n): complete, used everywhere, and open to a third language.

No training: reports and the class summary are rendered from fixed results
(tests/sample_results.py), and the score stage is fed a recorded child answer.
"""

from __future__ import annotations

import dataclasses
import html as html_module
import json
import re
import shutil
import string
import tomllib
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from grader import boundary, gradescope, i18n, progress, report, schedules, score, summary
from grader import spec as spec_module
from grader.artifacts import ModelArtifacts
from grader.checks import optimizer as optimizer_check
from grader.checks import run_checks, validate_rubric
from grader.checks.base import CheckContext
from grader.cli import main as cli_main
from grader.discover import SubmissionRef
from grader.errors import SpecError, UsageError
from grader.results import Assessment, CheckStatus, GradeResult, Location, Status
from grader.runner import ChildEnd, ChildOutcome
from grader.sandbox import Sandbox
from grader.settings import RunSettings
from grader.spec import RubricItem
from grader.submission import load
from tests.sample_results import graded_result

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(i18n.CATALOG_DIR.glob("*.toml"))
ANSWER = Path(__file__).parent / "boundary" / "response-reference.json"
SPEC = spec_module.load("fashion-mnist-polynomial-decay")

# Modules allowed to keep `{"es": ..., "en": ...}` dicts in code: none since every check's
# texts moved to `[checks.<id>]` and schedules.describe's to `[schedules]`. A branch that
# cannot move its texts yet lists its module here; the test below keeps the rest clean.
NOT_MOVED_YET: frozenset[str] = frozenset()

# A small third language: a few labels of the report, of the summary and one note. The
# rest of its keys fall back to English.
FRENCH = """\
[language]
name = "Français"

[number]
decimal = ","

[report]
title = "Rapport de correction"
status = "État"
score = "Note"
checks = "Vérifications"

[report.statuses]
graded = "Corrigée"

[location]
cell_line = "cellule {cell}, ligne {line}"
line = "ligne {line}"

[notes]
seeds = "Graine {seed} partout : corriger de nouveau donne les mêmes nombres."

[summary]
title = "Résumé de la classe : {assignment}"
checks = "Vérifications"
not_graded = "Non corrigées"
"""


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.fixture
def french(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "langs"
    folder.mkdir()
    (folder / "fr.toml").write_text(FRENCH, encoding="utf-8")
    monkeypatch.setenv(i18n.LANG_DIR_ENV, str(folder))
    return folder


# --- the catalogs themselves ---------------------------------------------------------------


def test_shipped_catalogs_parse_and_have_the_same_keys_and_fields() -> None:
    assert {p.stem for p in SHIPPED} == {"es", "en"}
    catalogs = {p.stem: i18n.flat(tomllib.loads(p.read_text("utf-8"))) for p in SHIPPED}
    english = catalogs["en"]
    for lang, texts in catalogs.items():
        assert all(isinstance(v, str) for v in texts.values()), lang
        missing = sorted(set(english) - set(texts))
        extra = sorted(set(texts) - set(english))
        assert not missing, f"{lang}.toml lacks {missing}"
        assert not extra, f"{lang}.toml has keys English lacks: {extra}"
        # A translation that renames a field would raise KeyError when it is filled.
        wrong = [k for k in english if _placeholders(texts[k]) != _placeholders(english[k])]
        assert not wrong, f"{lang}.toml changes the {{fields}} of {wrong}"
    assert i18n.missing("es") == [] and i18n.languages() == ("es", "en")


def test_no_module_keeps_its_own_language_dict() -> None:
    # Texts written as {"es": ..., "en": ...} in code (or a template) are what this change
    # moved out: a third language would find no text there.
    offenders = []
    for path in sorted([*(ROOT / "grader").rglob("*.py"), *(ROOT / "templates").glob("*.j2")]):
        relative = path.relative_to(ROOT).as_posix()
        if relative not in NOT_MOVED_YET and re.search(r'"es":\s*[("]', path.read_text("utf-8")):
            offenders.append(relative)
    assert offenders == []


def test_catalogs_ship_as_package_data() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    assert "grader.i18n" in setuptools["packages"]
    assert "*.toml" in setuptools["package-data"]["grader.i18n"]


# --- Spanish output has no English left ----------------------------------------------------

ENGLISH_LABELS = (
    "Grading report",
    "Student",
    "Status",
    "Checks",
    "Passed",
    "Test accuracy",
    "Trials",
    "Notes from the grader",
    "Statements not run",
    "line ",
    "cell ",
)


def test_spanish_report_has_no_english_label(tmp_path: Path) -> None:
    html, md = report.render_reports(graded_result(), tmp_path, lang="es")
    for path in (html, md):
        text = path.read_text("utf-8")
        left = [label for label in ENGLISH_LABELS if label in text]
        assert left == [], f"{path.name} still says {left}"
        assert "Informe de corrección" in text and "celda 5, línea 1" in text


def _summary_results() -> list[GradeResult]:
    failed = GradeResult.without_results(
        Assessment(SPEC.id, "smoke", SPEC.max_score),
        id="bea",
        sha256="",
        status=Status.TIMEOUT,
        message="tiempo",
        source_path="bea.py",
    )
    return [graded_result("ana"), failed]


def test_spanish_class_summary_has_no_english_label(tmp_path: Path) -> None:
    refs = [SubmissionRef(r.id, tmp_path / f"{r.id}.py", "py") for r in _summary_results()]
    for ref in refs:
        ref.path.write_text("x = 1\n")
    html = summary.write(_summary_results(), refs, SPEC, tmp_path, lang="es").read_text("utf-8")
    for label in (
        "Class summary",
        "Score distribution",
        "Pass rate",
        "Not graded",
        "Near-identical",
        "Slowest",
        "Timed out",
        "submissions",
    ):
        assert label not in html, label
    assert 'lang="es"' in html and "Resumen de la clase" in html
    assert "Tiempo agotado" in html  # the status, in Spanish
    assert "85,12 %" in html  # the decimal comma of the Spanish reports


def _settings(cache: Path, lang: str) -> RunSettings:
    """The smoke budget, sandboxed (as a batch grades: no "without sandbox" note)."""
    return RunSettings(
        spec=SPEC, budget=SPEC.budget("smoke"), cache=cache, lang=lang, sandbox=Sandbox("bwrap")
    )


def _assemble(tmp_path: Path, data: dict[str, Any], lang: str) -> GradeResult:
    source = tmp_path / "ana.py"
    source.write_text("import keras\n\nclass MyHyperModel:\n    pass\n")
    answer = boundary.parse_answer(json.dumps(data).encode(), objective="val_accuracy")
    outcome = ChildOutcome(
        answer=answer, end=ChildEnd.FINISHED, returncode=0, seconds=1.0, log_tail=""
    )
    return score.assemble(
        _settings(tmp_path, lang),
        load(SubmissionRef("ana", source, "py")),
        outcome,
        timings={"load": 0.1},
    )


def test_skipped_import_and_error_locations_are_in_the_reports_language(tmp_path: Path) -> None:
    # Was "Import omitido en line 4": the location was `str(Location)`, always English.
    data = json.loads(ANSWER.read_bytes())
    data["import_failures"] = [{"cell": None, "line": 4, "message": "No module named 'colab'"}]
    notes = _assemble(tmp_path, data, "es").notes
    assert "Import omitido en línea 4: No module named 'colab'" in notes
    assert (
        "Import skipped at line 4: No module named 'colab'" in _assemble(tmp_path, data, "en").notes
    )
    data["status"] = "error"
    data["error"] = {"type": "ValueError", "message": "bad", "location": {"cell": 3, "line": 7}}
    assert "ValueError: bad (celda 3, línea 7)" in _assemble(tmp_path, data, "es").message


def test_gradescope_feedback_places_in_spanish() -> None:
    tests = gradescope.to_results(graded_result(), lang="es")["tests"]
    outputs = " ".join(t["output"] for t in tests)
    assert "(celda 5, línea 1)" in outputs and "line " not in outputs


def test_terminal_lines_follow_the_language() -> None:
    result = graded_result("ana")
    lines: list[str] = []
    shown = progress.PlainProgress(lines.append, lang="es")
    shown.begin(2)
    shown.finished(result, how="reused")
    # Numbers as the language writes them, as in its reports.
    assert lines == ["[1/2] ana: corregida 7,5/10 test 85,12 % (reutilizado)"]
    english = progress.result_line(result, 1, 2, " (reused)")
    assert english == "[1/2] ana: graded 7.5/10 test 85.12 % (reused)"


# --- a third language is a file ------------------------------------------------------------


def test_a_third_language_is_a_file(tmp_path: Path, french: Path) -> None:
    assert i18n.languages() == ("es", "en", "fr")
    assert "report.title" not in i18n.missing("fr") and "report.trials" in i18n.missing("fr")
    html, md = report.render_reports(graded_result(), tmp_path / "out", lang="fr")
    text = html.read_text("utf-8")
    assert '<html lang="fr"' in text and "Rapport de correction" in text
    assert "cellule 5, ligne 1" in text
    assert "Trials" in text  # a key French lacks falls back to English
    assert "Rapport de correction" in md.read_text("utf-8")
    refs = [SubmissionRef(r.id, tmp_path / f"{r.id}.py", "py") for r in _summary_results()]
    for ref in refs:
        ref.path.write_text("x = 1\n")
    page = summary.write(_summary_results(), refs, SPEC, tmp_path, lang="fr").read_text("utf-8")
    assert (
        "Résumé de la classe" in page and "Non corrigées" in page and "Score distribution" in page
    )
    assert i18n.say("notes.seeds", "fr", seed=23).startswith("Graine 23")


# Texts that were code until every check moved to the catalogs: the optimizer's " or "
# join of accepted classes and the schedule families' names (a Spanish-only dict).
FRENCH_CHECKS = """\
[checks.optimizer]
wrong_class = "L'optimiseur est {found} ; attendu keras.optimizers.{expected}."
or = " ou "

[schedules]
none = "aucun planificateur connu"

[schedules.names]
"step decay" = "décroissance par paliers"
"""


def test_check_texts_and_schedule_names_come_from_the_catalogs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "langs"
    folder.mkdir()
    (folder / "fr.toml").write_text(FRENCH_CHECKS, encoding="utf-8")
    monkeypatch.setenv(i18n.LANG_DIR_ENV, str(folder))
    item = next(i for i in SPEC.rubric if i.id == "optimizer")
    accepted = optimizer_check.Params(class_name=("SGD", "Nadam"))
    spec = dataclasses.replace(SPEC, rubric=(dataclasses.replace(item, params=accepted),))
    adam = {"class_name": "Adam", "config": {"name": "adam"}, "momentum": None, "nesterov": None}
    ctx = CheckContext(
        record={"probe_version": 1, "structure": {"status": "ok"}, "build": {"status": "ok"}},
        lang="fr",
        artifacts=ModelArtifacts(compiled=True, optimizer=adam),
    )
    (result,) = run_checks(spec, ctx)
    assert result.message == (
        "L'optimiseur est Adam ; attendu keras.optimizers.SGD ou keras.optimizers.Nadam."
    )
    step = schedules.ScheduleFit("step decay", {"drop": 0.5}, 0.0)
    assert schedules.describe(step, "fr") == "décroissance par paliers (drop=0.5)"
    assert schedules.describe(None, "fr") == "aucun planificateur connu"
    # A family French does not name reads as in English; a Keras class in every language.
    timed = schedules.ScheduleFit("time-based decay", {"decay": 0.01}, 0.0)
    assert schedules.describe(timed, "fr") == "time-based decay (decay=0.01)"
    assert schedules.describe(timed, "es") == "decaimiento basado en tiempo (decay=0.01)"
    poly = schedules.ScheduleFit("PolynomialDecay", {"power": 1.0}, 0.0)
    assert schedules.describe(poly, "es") == "PolynomialDecay(power=1.0)"


def test_a_spec_may_use_a_language_with_a_catalog(tmp_path: Path, french: Path) -> None:
    folder = tmp_path / "assignment"
    shutil.copytree(SPEC.directory, folder, ignore=shutil.ignore_patterns("calibration"))
    toml = folder / spec_module.SPEC_FILE
    text = toml.read_text("utf-8").replace('language = "es"', 'language = "fr"')
    text = text.replace(
        'title = { es = "Estructura de MyHyperModel", en = "MyHyperModel structure" }',
        'title = { fr = "Structure de MyHyperModel", en = "MyHyperModel structure" }\n'
        'messages = { wrong_base = { fr = "Hérite de {base}." } }',
    )
    toml.write_text(text, encoding="utf-8")
    spec = spec_module.load(folder)
    validate_rubric(spec)
    assert spec.language == "fr"
    structure = next(item for item in spec.rubric if item.id == "structure")
    assert structure.title_in("fr") == "Structure de MyHyperModel"
    assert next(i for i in spec.rubric if i.id == "optimizer").title_in("fr") == "SGD optimizer"


def test_a_language_without_a_catalog_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown language 'fr'"):
        report.render_reports(graded_result(), tmp_path, lang="fr")
    folder = tmp_path / "assignment"
    shutil.copytree(SPEC.directory, folder, ignore=shutil.ignore_patterns("calibration"))
    toml = folder / spec_module.SPEC_FILE
    toml.write_text(toml.read_text("utf-8").replace('language = "es"', 'language = "fr"'))
    with pytest.raises(SpecError, match="'language' must be one of"):
        spec_module.load(folder)


def test_cli_lang_dir_adds_the_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Recorded by monkeypatch so that the value --lang-dir sets below is undone afterwards
    # (delenv of an absent variable records nothing, and 'fr' would leak into later tests).
    monkeypatch.setenv(i18n.LANG_DIR_ENV, "")
    missing = tmp_path / "nothing.py"
    exam = ["--assignment", "fashion-mnist-polynomial-decay"]
    assert cli_main([str(missing), *exam, "--lang", "fr"]) == 2
    assert "unknown language 'fr'" in capsys.readouterr().err
    folder = tmp_path / "langs"
    folder.mkdir()
    (folder / "fr.toml").write_text(FRENCH, encoding="utf-8")
    # With the catalog the language is accepted; what stops the run now is the missing file.
    # (--lang-dir sets $GRADER_LANG_DIR; monkeypatch restores it after the test.)
    assert cli_main([str(missing), *exam, "--lang", "fr", "--lang-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "unknown language" not in err and "nothing.py" in err


def test_an_instructor_catalog_rewords_one_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "langs"
    folder.mkdir()
    (folder / "es.toml").write_text('[report]\ntitle = "Corrección"\n', encoding="utf-8")
    monkeypatch.setenv(i18n.LANG_DIR_ENV, str(folder))
    assert report.UI["es"]["title"] == "Corrección"
    assert report.UI["es"]["student"] == "Estudiante"  # the rest stays as shipped


def test_spec_message_overrides_still_win() -> None:
    item = next(i for i in SPEC.rubric if i.id == "structure")
    override = {"no_probe": {"es": "Sin sondeo de {class_name}."}}
    spec = _with_item(item, messages=override)
    ctx = CheckContext(record={}, lang="es")
    (result,) = run_checks(spec, ctx)
    assert result.status is CheckStatus.SKIPPED and result.message == "Sin sondeo de MyHyperModel."
    (english,) = run_checks(spec, ctx, lang="en")
    assert english.message.startswith("Skipped: the grader never got to inspect MyHyperModel")


def _with_item(item: RubricItem, **changes: Any) -> spec_module.Spec:
    changed = dataclasses.replace(item, **{k: MappingProxyType(v) for k, v in changes.items()})
    return dataclasses.replace(SPEC, rubric=(changed,))


def test_location_words() -> None:
    assert i18n.location(None, 4, "es") == "línea 4"
    assert i18n.location(2, 1, "en") == "cell 2, line 1" == str(Location(2, 1))


# --- a Spanish batch of broken notebooks: no English sentence in its reports ---------------

# English words Spanish prose never uses: one of them outside code is an English sentence.
ENGLISH_WORDS = re.compile(
    r"\b(the|is|are|was|were|not|your|you|this|that|with|could|cannot|has|have|of|and|to|"
    r"it|in|at|on|for|from|by|or|be|been|which|only|there|its|an|into|when)\b",
    re.IGNORECASE,
)


def _prose(text: str, *, html: bool) -> str:
    """What a reader reads as sentences: tags, styles, plots and code (quoted in backticks
    or shown in <pre>/<code>, the student's own) left out."""
    if html:
        text = re.sub(r"<(style|script|pre|code|svg)\b.*?</\1>", " ", text, flags=re.S | re.I)
        text = html_module.unescape(re.sub(r"<[^>]+>", " ", text))
    return re.sub(r"\\?`[^`]*\\?`", " ", text)


def _english_sentences(text: str) -> list[str]:
    """Pieces of English catalog texts (three words or more) and English words in `text`."""
    english, spanish = i18n.flat(i18n.catalogs()["en"]), i18n.flat(i18n.catalogs()["es"])
    found = [
        piece.strip()
        for key, words in english.items()
        if spanish.get(key) != words
        for piece in re.split(r"\{[^}]*\}", words)
        if len(re.findall(r"[A-Za-z']+", piece)) >= 3 and piece.strip() in text
    ]
    for match in ENGLISH_WORDS.finditer(text):
        found.append(text[max(0, match.start() - 40) : match.end() + 40].replace("\n", " "))
    return found


@pytest.fixture(scope="module")
def spanish_batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Broken submissions graded with the exam's language (Spanish), no --lang: a syntax
    error, an empty file, a file that is not UTF-8, a line too long to read and a notebook
    whose JSON is cut short."""
    folder = tmp_path_factory.mktemp("broken")
    shutil.copy(ROOT / "submissions" / "syntax_error.ipynb", folder)
    (folder / "empty.py").write_text("", encoding="utf-8")
    (folder / "binary.py").write_bytes(b"import keras\n\x00\x01\x02\n")
    (folder / "long_line.py").write_text("x = '" + "a" * 20_001 + "'\n", encoding="utf-8")
    (folder / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")  # cut JSON
    out = tmp_path_factory.mktemp("out")
    cache = tmp_path_factory.mktemp("cache")
    argv = [str(folder), "--assignment", SPEC.id, "--subset", "500", "--out", str(out)]
    assert cli_main([*argv, "--cache-dir", str(cache), "--progress", "plain"]) == 1
    return out


@pytest.mark.parametrize("sid", ["syntax_error", "empty", "binary", "long_line", "broken"])
def test_a_spanish_batch_of_broken_notebooks_reports_no_english_sentence(
    spanish_batch: Path, sid: str
) -> None:
    folder = spanish_batch / sid
    result = report.read_result(folder / report.RESULT_FILE)
    assert result.status is not Status.GRADED
    # An error keeps the assignment's total: "0 / 10", never "0 / 0".
    assert result.score == 0 and result.max_score == SPEC.max_score
    for name in ("report.html", "report.md", "gradescope/results.json"):
        text = (folder / name).read_text("utf-8")
        left = _english_sentences(_prose(text, html=name.endswith(".html")))
        assert left == [], f"{sid}/{name} still says {left}"
    md = (folder / "report.md").read_text("utf-8")
    assert f"0 / {i18n.number(SPEC.max_score, 'es')}" in md
    # The hint (what to do about it) reaches the student, not only the terminal.
    assert "(" in result.message and result.message.endswith(")")


def test_the_spanish_batchs_summary_and_gradebook_too(spanish_batch: Path) -> None:
    text = (spanish_batch / "summary.html").read_text("utf-8")
    assert _english_sentences(_prose(text, html=True)) == []
    syntax = report.read_result(spanish_batch / "syntax_error" / report.RESULT_FILE)
    assert syntax.message.startswith("SyntaxError en la celda 7, la línea 2: ")
    rows = (spanish_batch / report.GRADEBOOK_FILE).read_text("utf-8").splitlines()
    assert all(f",0,{SPEC.max_score:g}," in row for row in rows[1:])
