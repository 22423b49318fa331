"""Every text a student or instructor reads, one catalog per language.

The catalogs are TOML files named after their language code (`es.toml`, `en.toml` in this
folder, shipped as package data). Their tables group the texts by where they are used
(`[report]`, `[notes]`, `[checks.structure]`, `[summary]`, `[progress]`...); a text is
named by its dotted key (`notes.seeds`) and is a `str.format` template with named fields.

English is the complete catalog: a key missing from another language falls back to
English (tests/test_i18n.py lists every key a shipped catalog lacks). A third language is a
file, not a code change: drop `fr.toml` into a folder named by `$GRADER_LANG_DIR` (several
folders separated by `os.pathsep`; `grade --lang-dir DIR` sets it) and `--lang fr` works.
A file there with a shipped language's name overrides that language key by key, so an
instructor can reword one text without copying the rest.

Code reads the catalog lazily (every lookup consults the folders as they are now), so a
module-level `MESSAGES = i18n.messages("checks.structure")` behaves like the
`{key: {lang: text}}` dicts it replaced, for every language, including one added after the
module was imported.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from grader.errors import SpecError, UsageError

CATALOG_DIR = Path(__file__).resolve().parent
LANG_DIR_ENV = "GRADER_LANG_DIR"
FALLBACK = "en"  # the complete catalog

Catalog = Mapping[str, Any]  # a language's nested tables, as TOML reads them


def extra_dirs() -> tuple[Path, ...]:
    """The folders `$GRADER_LANG_DIR` names, in order (later ones win)."""
    value = os.environ.get(LANG_DIR_ENV, "")
    return tuple(Path(p) for p in value.split(os.pathsep) if p)


def use_lang_dir(folder: Path) -> None:
    """Add `folder` to `$GRADER_LANG_DIR` for this process and the processes it starts.

    The environment, not a module variable: the batch's worker processes render reports
    too, and they inherit the environment whatever the start method.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(
            f"language folder {folder} does not exist",
            hint="give a folder holding <code>.toml catalogs, such as fr.toml",
        )
    dirs = [*extra_dirs(), folder.resolve()]
    os.environ[LANG_DIR_ENV] = os.pathsep.join(str(d) for d in dirs)


def catalogs() -> Mapping[str, Catalog]:
    """Every language's catalog: the shipped ones, then each extra folder's on top."""
    return _load((CATALOG_DIR, *extra_dirs()))


@functools.cache
def _load(folders: tuple[Path, ...]) -> Mapping[str, Catalog]:
    # Cached per list of folders: setting $GRADER_LANG_DIR makes a new list, so a test (or
    # `--lang-dir`) sees its catalogs without anyone clearing a cache.
    found: dict[str, dict[str, Any]] = {}
    for folder in folders:
        for path in sorted(Path(folder).glob("*.toml")):
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise SpecError(
                    f"language catalog {path} cannot be read: {exc}",
                    hint="it must be UTF-8 TOML like grader/i18n/en.toml",
                ) from exc
            found[path.stem] = _merge(found.get(path.stem, {}), data)
    if FALLBACK not in found:
        raise SpecError(f"no {FALLBACK}.toml among the language catalogs in {folders}")
    return found


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def languages() -> tuple[str, ...]:
    """The language codes there is a catalog for: the shipped ones first (es, en), then
    the added ones in alphabetical order."""
    codes = list(catalogs())
    shipped = [c for c in ("es", "en") if c in codes]
    return (*shipped, *sorted(c for c in codes if c not in shipped))


def require(lang: str) -> str:
    """`lang` if there is a catalog for it, else a `UsageError` naming the ones there are."""
    if lang not in catalogs():
        raise UsageError(
            f"unknown language {lang!r}",
            hint=f"choose one of: {', '.join(languages())} (or add a catalog with --lang-dir)",
        )
    return lang


def _lookup(catalog: Catalog, key: str) -> Any:
    node: Any = catalog
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def text(key: str, lang: str) -> str:
    """The text `key` (dotted) in `lang`, or in English when `lang` lacks it."""
    every = catalogs()
    value = _lookup(every.get(lang, {}), key)
    if not isinstance(value, str):
        value = _lookup(every[FALLBACK], key)
    if not isinstance(value, str):
        raise KeyError(f"no text {key!r} in the {FALLBACK} catalog")
    return value


def say(key: str, lang: str, /, **fields: Any) -> str:
    """`text(key, lang)` filled with `fields`."""
    return text(key, lang).format(**fields)


def table(key: str, lang: str) -> dict[str, Any]:
    """The table `key` (e.g. "report") in `lang`, English filling whatever it lacks."""
    every = catalogs()
    english = _lookup(every[FALLBACK], key)
    if not isinstance(english, Mapping):
        raise KeyError(f"no table {key!r} in the {FALLBACK} catalog")
    own = _lookup(every.get(lang, {}), key)
    return _merge(dict(english), own if isinstance(own, Mapping) else {})


def flat(catalog: Catalog, prefix: str = "") -> dict[str, str]:
    """A catalog's texts by dotted key (for the completeness test and tools)."""
    out: dict[str, str] = {}
    for key, value in catalog.items():
        if isinstance(value, Mapping):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def missing(lang: str) -> list[str]:
    """The English keys `lang`'s catalog does not have (they fall back to English)."""
    every = catalogs()
    have = flat(every.get(lang, {}))
    return sorted(k for k in flat(every[FALLBACK]) if k not in have)


def number(value: float, lang: str, digits: int | None = None) -> str:
    """`value` as `lang` writes a number in prose (the catalog's [number] table): its
    decimal separator, and its thousands separator in an integer part of at least
    `group_digits` digits ("50,000" in English, "50 000" in Spanish, whose 4-digit numbers
    stay whole). `digits` None: up to 4 decimals, trailing zeros dropped ("7.5", "10").

    Prose only: a value quoted from code (`decay_steps=1407`, a learning rate in a call)
    keeps Python's notation, and grades.csv keeps a dot for spreadsheets."""
    words = table("number", lang)
    text = f"{value:.4f}".rstrip("0").rstrip(".") if digits is None else f"{value:.{digits}f}"
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, fraction = text.partition(".")
    if whole.isdigit() and len(whole) >= int(words["group_digits"]):
        whole = f"{int(whole):,}".replace(",", words["thousands"])
    if sign and not whole.strip("0") and not fraction.strip("0"):
        sign = ""  # -0.00 reads as 0
    return sign + whole + (words["decimal"] + fraction if fraction else "")


def percent(fraction: float, lang: str, digits: int = 2) -> str:
    """A fraction in [0, 1] as a percentage in `lang`: 0.6131 -> "61.31 %", "61,31 %"."""
    return say("number.percent", lang, number=number(100 * fraction, lang, digits))


def location(cell: int | None, line: int, lang: str) -> str:
    """A place in the student's file as the reports write it: "celda 3, línea 4"."""
    if cell:
        return say("location.cell_line", lang, cell=cell, line=line)
    return say("location.line", lang, line=line)


class Texts(Mapping[str, str]):
    """One text in every language (`texts["es"]`), English for a language that lacks it.

    Iterating gives the languages that have a catalog, so `dict(texts)` and
    `texts.values()` see every one of them.
    """

    def __init__(self, key: str) -> None:
        self.key = key

    def __getitem__(self, lang: str) -> str:
        return text(self.key, lang)

    def __iter__(self) -> Iterator[str]:
        return iter(languages())

    def __len__(self) -> int:
        return len(languages())

    def __repr__(self) -> str:
        return f"Texts({self.key!r})"


class Messages(Mapping[str, Texts]):
    """A catalog table as `{key: {lang: text}}`: what `MESSAGES` dicts used to be.

    `i18n.messages("checks.structure")["wrong_base"]["es"]` is the text of
    `checks.structure.wrong_base` in Spanish. The keys are the English catalog's.
    """

    def __init__(self, section: str) -> None:
        self.section = section

    def _keys(self) -> list[str]:
        english = _lookup(catalogs()[FALLBACK], self.section)
        if not isinstance(english, Mapping):
            raise KeyError(f"no table {self.section!r} in the {FALLBACK} catalog")
        return [k for k, v in english.items() if isinstance(v, str)]

    def __getitem__(self, key: str) -> Texts:
        if key not in self._keys():
            raise KeyError(key)
        return Texts(f"{self.section}.{key}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __repr__(self) -> str:
        return f"Messages({self.section!r})"


def messages(section: str) -> Messages:
    """The texts of one catalog table, keyed like the module dicts they replaced."""
    return Messages(section)


class Labels(Mapping[str, dict[str, Any]]):
    """`UI[lang]`: a catalog table per language as a plain nested dict, with "lang" set."""

    def __init__(self, section: str) -> None:
        self.section = section

    def __getitem__(self, lang: str) -> dict[str, Any]:
        if lang not in catalogs():
            raise KeyError(lang)
        return {**table(self.section, lang), "lang": lang}

    def __iter__(self) -> Iterator[str]:
        return iter(languages())

    def __len__(self) -> int:
        return len(languages())
