"""`pip install .` (not editable) gives a working `grade`: its templates, catalogs, assignments.

The wheel is built offline from a copy of the source (`pip wheel --no-deps
--no-build-isolation --no-index`: no network, and no build/ folder left in the checkout)
and installed without dependencies into a fresh venv. The venv borrows the running
environment's dependencies through a .pth file, so nothing is downloaded and TensorFlow
is not copied; the `grader` it imports is the wheel's (checked), from a folder that has
no ./assignments, so everything must come from the package itself.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SOURCE = ("pyproject.toml", "README.md", "grader", "assignments", "templates")


def test_every_sub_package_is_listed_for_the_wheel() -> None:
    """The packages are listed by hand (find cannot see the mapped ones): none forgotten."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "grader").rglob("*.py")
    }
    packages = {
        ".".join(p.relative_to(ROOT).parts)
        for p in [ROOT / "grader", *(ROOT / "grader").rglob("*")]
        if p.is_dir() and (p / "__init__.py").is_file()
    }
    assert packages <= listed, f"add to [tool.setuptools] packages: {packages - listed}"
    assert on_disk <= listed, f"modules outside a listed package: {on_disk - listed}"
    mapped = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert mapped == {"grader.assignments": "assignments", "grader.templates": "templates"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("install")
    src = base / "src"
    src.mkdir()
    for name in SOURCE:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, src / name)
    # A catalog in the glob the i18n catalogs use: it must reach the wheel.
    (src / "grader" / "i18n").mkdir(exist_ok=True)
    (src / "grader" / "i18n" / "zz-probe.toml").write_text('probe = "yes"\n', encoding="utf-8")
    wheels = base / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels)]
    subprocess.run([*pip, *build, str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("grader-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = ["--python", str(python), "install", "--no-deps", "--no-index", str(wheel)]
    subprocess.run([*pip, *install], check=True, capture_output=True, timeout=300)
    # The dependencies (TensorFlow...) come from the running environment, after the venv's
    # own site-packages on sys.path, so the venv's `grader` is the one imported.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "zz_borrowed_dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
    )
    away = base / "elsewhere"  # no ./assignments here
    away.mkdir()
    return {"wheel": wheel, "venv": venv, "away": away, "base": base}


def _run(installed: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(installed["venv"] / "bin" / args[0]), *args[1:]],
        cwd=installed["away"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_the_wheel_holds_templates_catalogs_and_assignments(installed) -> None:
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    assert {f"grader/templates/{t}" for t in ("report.html.j2", "summary.html.j2")} <= names
    assert "grader/i18n/zz-probe.toml" in names
    assert "grader/schema/result.schema.json" in names
    shipped = ROOT / "assignments"
    for path in shipped.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert f"grader/assignments/{path.relative_to(shipped).as_posix()}" in names


@pytest.mark.slow
def test_installed_grade_runs_from_the_wheel(installed) -> None:
    where = _run(installed, "python", "-c", "import grader; print(grader.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(installed["venv"]), where
    helped = _run(installed, "grade", "--help")
    assert helped.returncode == 0 and "grade validate" in helped.stdout, helped.stderr
    # The shipped assignments are found, and the message says where it looked.
    listed = _run(installed, "grade", "x.ipynb", "--assignment", "nope")
    assert listed.returncode == 2
    assert "fashion-mnist-polynomial-decay" in listed.stderr and " (in " in listed.stderr
    assert f"{installed['away'] / 'assignments'} (./assignments, absent)" in listed.stderr
    assert "site-packages/grader/assignments (shipped)" in listed.stderr


@pytest.mark.slow
def test_installed_grade_grades_with_its_shipped_assignment_and_templates(installed) -> None:
    # syntax_error stops at loading (nothing trains); its report needs the templates.
    notebook = installed["away"] / "syntax_error.ipynb"
    shutil.copy(ROOT / "submissions" / "syntax_error.ipynb", notebook)
    out = installed["base"] / "reports"
    graded = _run(
        installed,
        "grade",
        str(notebook),
        "--assignment",
        "fashion-mnist-polynomial-decay",
        "--budget",
        "smoke",
        "--subset",
        "100",
        "--progress",
        "plain",
        "--out",
        str(out),
        "--cache-dir",
        str(installed["base"] / "cache"),
    )
    assert graded.returncode == 1, graded.stdout + graded.stderr  # 1: not all graded
    # In the exam's language, as the rest of its report (it used to stay English).
    report_md = (out / "syntax_error" / "report.md").read_text()
    assert "SyntaxError en la celda 7, la línea 2" in report_md
    assert (out / "syntax_error" / "report.html").stat().st_size > 0
    assert (out / "summary.html").stat().st_size > 0


@pytest.mark.slow
def test_installed_grade_grades_the_data_free_assignment(installed) -> None:
    """and-gate-schedules needs no data file: the installed `grade` grades its shipped
    reference end to end (child, search, evaluation, checks, calibration) from the wheel.
    --no-sandbox: this venv borrows its dependencies through a .pth file whose folder the
    sandbox does not bind (a real `pip install .` venv holds them itself)."""
    notebook = installed["away"] / "and_gate.ipynb"
    shutil.copy(ROOT / "assignments" / "and-gate-schedules" / "reference.ipynb", notebook)
    out = installed["base"] / "and-gate-reports"
    graded = _run(
        installed,
        "grade",
        str(notebook),
        "--assignment",
        "and-gate-schedules",
        "--budget",
        "smoke",
        "--no-sandbox",
        "--progress",
        "plain",
        "--lang",
        "en",
        "--out",
        str(out),
        "--cache-dir",
        str(installed["base"] / "cache"),
    )
    assert graded.returncode == 0, graded.stdout + graded.stderr
    result = json.loads((out / "and_gate" / "result.json").read_text(encoding="utf-8"))
    assert result["status"] == "graded"
    failed = [c["id"] for c in result["checks"] if c["status"] != "passed"]
    assert failed == [] and result["score"] == result["max_score"] > 0, failed


def test_the_instructors_material_is_hidden_from_the_child(tmp_path: Path) -> None:
    """In a wheel the shipped assignments (reference solutions!) sit inside the venv the
    sandbox binds read-only: the child must see an empty folder there."""
    from grader import pipeline, resources
    from grader import spec as spec_module
    from grader.sandbox import Sandbox
    from grader.settings import RunSettings

    spec = spec_module.load(ROOT / "assignments" / "fashion-mnist-polynomial-decay")
    settings = RunSettings(
        spec=spec, budget=spec.budget("smoke"), cache=tmp_path, lang="en", sandbox=Sandbox(None)
    )
    hidden = pipeline._hidden(settings)
    assert resources.ASSIGNMENTS in hidden and spec.directory in hidden
    # What the sandbox does with a hidden folder under a bound root (the venv, as in a wheel).
    inside_venv = Path(sys.prefix) / "lib"
    args = Sandbox("/usr/bin/bwrap").wrap(
        ["true"], scratch=tmp_path, readable=[], env={}, hidden=[inside_venv]
    )
    assert ["--tmpfs", str(inside_venv)] == args[args.index(str(inside_venv)) - 1 :][:2]
