"""Where the files shipped with the grader live: in a checkout and in an installed wheel.

The repository keeps the instructors' material at its top level (`assignments/`,
`templates/`), beside the `grader` package, where an instructor expects it. A wheel has
no "beside": pyproject.toml maps those folders into the package (`package-dir`:
`grader.assignments` = `assignments`, `grader.templates` = `templates`), so an installed
grader finds them at `grader/assignments/` and `grader/templates/`. A checkout (or an
editable install, whose `grader` is the checkout's folder) has no such folders inside the
package, and finds them one level up. One function decides, so no module guesses paths.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """The folder `name` ("assignments", "templates") shipped with this grader.

    Inside the package first (an installed wheel), else the checkout's top-level folder.
    The checkout never has `grader/<name>/`, so the two cannot be confused.
    """
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent / name


ASSIGNMENTS = shipped("assignments")
TEMPLATES = shipped("templates")
