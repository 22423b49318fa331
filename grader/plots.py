"""The reports' plots: inline SVG drawn with matplotlib from the result dict, nothing else.

`render(result, labels)` returns `{name: svg}` for each plot the result has data for:

- `learning_rate`: the student's learning rate over the training steps beside the spec's
  schedule taken with the same hyperparameters (`result["learning_rate"]`); for a callback
  family (grader.schedules.CALLBACK_FAMILIES) per batch on a linear axis (CyclicLR) or per
  epoch as stairs (a step decay);
- `history`: training and validation accuracy and loss per epoch of the best trial;
- `trials`: every trial's validation accuracy against each numeric hyperparameter;
- `accuracy`: the test accuracy beside the reference and the exam's baselines.

The SVG goes straight into one HTML file, so each one is made safe to inline: no XML
prologue, DOCTYPE, metadata or namespace URLs (the report must hold no external URL), and
every id (and each reference to it) prefixed with the plot's name so four plots never
share an id. Output is deterministic: a fixed hash salt per plot and no date. Text stays
text (`svg.fonttype = "none"`): small, selectable, and found by the browser test. Student
strings (hyperparameter names) are drawn with mathtext off, so a `$` is just a `$`.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from grader import schedules

PLOTS = ("learning_rate", "history", "trials", "accuracy")
MAX_HP_PANELS = 4  # a search over more numeric hyperparameters shows its first four
LINEAR_STEPS = 10  # the learning-rate x axis is linear up to here, logarithmic after
# Inches: the SVG scales to the page; narrow enough that text stays legible on a phone.
WIDTH = 5.4

# Colours (colour-blind safe, Okabe-Ito) shared with the HTML template's CSS.
YOU = "#0072B2"
EXPECTED = "#E69F00"
REFERENCE = "#555555"
BASELINE = "#BBBBBB"
VALIDATION = "#D55E00"

_RC = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.size": 10,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e5e5",
    "legend.frameon": False,
}

Labels = Mapping[str, str]


def render(result: Mapping[str, Any], labels: Labels) -> dict[str, str]:
    """Every plot `result` (a `GradeResult.to_dict()`) has data for, as inline SVG markup.

    `labels` are the localised words (report.UI[lang]["plot"]); its "decimal" is the
    decimal separator used in tick and value labels.
    """
    drawers: dict[str, Callable[[Mapping[str, Any], Labels], Figure | None]] = {
        "learning_rate": _learning_rate,
        "history": _history,
        "trials": _trials,
        "accuracy": _accuracy,
    }
    out = {}
    for name in PLOTS:
        with matplotlib.rc_context():
            # From Matplotlib's defaults, not the process's current settings: code that
            # ran earlier in this process (a style, a notebook's rcParams) must not change
            # the plots, or the same result would render differently.
            matplotlib.rcdefaults()
            matplotlib.rcParams.update({**_RC, "svg.hashsalt": name, "svg.id": f"plot-{name}"})
            figure = drawers[name](result, labels)
            if figure is not None:
                out[name] = _svg(figure, name, labels[f"{name}_title"])
    return out


# --- the four plots ----------------------------------------------------------------------


def _learning_rate(result: Mapping[str, Any], labels: Labels) -> Figure | None:
    curves = result.get("learning_rate") or {}
    student, expected = curves.get("student"), curves.get("expected")
    if not student and not expected:
        return None
    figure = Figure(figsize=(WIDTH, 3.0), layout="constrained")
    ax = figure.add_subplot()
    if student:
        ax.plot(
            student["steps"],
            _floats(student["values"]),
            color=YOU,
            lw=2.2,
            label=labels["lr_student"],
        )
    if expected:
        ax.plot(
            expected["steps"],
            _floats(expected["values"]),
            color=EXPECTED,
            lw=1.4,
            ls=(0, (4, 2)),
            label=f"{labels['lr_expected']} ({curves.get('family')})",
        )
    family = str(curves.get("family") or "")
    if family in schedules.CALLBACK_FAMILIES and family not in schedules.PER_BATCH_FAMILIES:
        # A callback that sets the rate once per epoch: x is the epoch, each value held
        # for the whole epoch (a step decay's stairs, not a slope between epochs).
        for line in ax.get_lines():
            line.set_drawstyle("steps-post")
            # The last epoch is held for its whole width too, not cut at its start.
            xs, ys = list(line.get_xdata()), list(line.get_ydata())
            if xs:
                line.set_data([*xs, xs[-1] + 1], [*ys, ys[-1]])
        ax.set_xlim(left=0)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel(labels["epoch"])
    elif family in schedules.PER_BATCH_FAMILIES:
        # A cyclic policy: every batch, on a linear axis, so the triangles keep their shape.
        ax.set_xlim(left=0)
        ax.set_xlabel(labels["step"])
    else:
        # Decays like decay_steps=10 happen in the first steps of thousands: linear up to
        # LINEAR_STEPS, logarithmic after, so both the decay and the long tail show.
        ax.set_xscale("symlog", linthresh=LINEAR_STEPS, linscale=1.0)
        ax.set_xlim(left=0)
        ax.set_xlabel(labels["step"])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}".replace(",", " ")))
    ax.yaxis.set_major_formatter(_number(labels, "{:.4g}"))
    ax.set_ylabel(labels["learning_rate"])
    ax.legend(loc="best")
    return figure


def _history(result: Mapping[str, Any], labels: Labels) -> Figure | None:
    trial = best_trial(result)
    history = (trial or {}).get("history") or {}
    panels = [
        (labels["accuracy"], "accuracy", "val_accuracy", _percent(labels)),
        (labels["loss"], "loss", "val_loss", _number(labels, "{:.3g}")),
    ]
    panels = [p for p in panels if history.get(p[1]) or history.get(p[2])]
    if not panels:
        return None
    figure = Figure(figsize=(WIDTH, 2.8), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, train_key, val_key, formatter) in zip(axes, panels, strict=True):
        for key, colour, label in (
            (train_key, YOU, labels["training"]),
            (val_key, VALIDATION, labels["validation"]),
        ):
            values = _floats(history.get(key) or [])
            if values:
                ax.plot(
                    range(1, len(values) + 1), values, color=colour, marker="o", ms=4, label=label
                )
        ax.set_title(title)
        ax.set_xlabel(labels["epoch"])
        epochs = max(len(history.get(train_key) or []), len(history.get(val_key) or []))
        ax.set_xlim(0.5, epochs + 0.5)  # one epoch (smoke budget) must not span 0.96-1.04
        ax.xaxis.get_major_locator().set_params(integer=True, min_n_ticks=1)
        ax.yaxis.set_major_formatter(formatter)
    # Below the panels: inside, it would cover the points of a one- or two-epoch run.
    handles, names = axes[0].get_legend_handles_labels()
    title = f"{labels['best_trial']}: {trial['id']}" if trial else None
    figure.legend(handles, names, loc="outside lower center", ncols=2, title=title)
    return figure


def _trials(result: Mapping[str, Any], labels: Labels) -> Figure | None:
    trials = [t for t in result.get("trials") or [] if _finite(t.get("val_accuracy"))]
    if not trials:
        return None
    names = [
        name
        for name in trials[0]["hyperparameters"]
        if all(_numeric(t["hyperparameters"].get(name)) for t in trials)
    ][:MAX_HP_PANELS]
    best = best_trial(result)
    best_id = best["id"] if best else None
    figure = Figure(figsize=(WIDTH, 2.8 if len(names) <= 2 else 5.2), layout="constrained")
    columns = min(2, max(1, len(names)))
    rows = math.ceil(max(1, len(names)) / columns)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[max(1, len(names)) :]:
        ax.set_visible(False)
    for ax, name in zip(axes, names or [None], strict=False):
        xs = [
            float(t["hyperparameters"][name]) if name else index
            for index, t in enumerate(trials, 1)
        ]
        ys = [float(t["val_accuracy"]) for t in trials]
        colours = [EXPECTED if t["id"] == best_id else YOU for t in trials]
        ax.scatter(xs, ys, c=colours, s=36, zorder=3, edgecolors="white", linewidths=0.6)
        ax.set_xlabel(name if name else labels["trial"])
        ax.set_ylabel(labels["val_accuracy"])
        ax.yaxis.set_major_formatter(_percent(labels))
        if name:
            ax.xaxis.set_major_formatter(_number(labels, "{:.4g}"))
            ax.tick_params(axis="x", labelrotation=20)
    if best_id is not None:
        axes[0].scatter([], [], color=EXPECTED, s=36, label=labels["best_trial"])
        axes[0].scatter([], [], color=YOU, s=36, label=labels["other_trials"])
        axes[0].legend(loc="best")
    return figure


def _accuracy(result: Mapping[str, Any], labels: Labels) -> Figure | None:
    bars: list[tuple[str, float, str]] = []
    if _finite(result.get("test_accuracy")):
        bars.append((labels["your_model"], float(result["test_accuracy"]), YOU))
    if _finite(result.get("reference_test_accuracy")):
        bars.append((labels["reference"], float(result["reference_test_accuracy"]), REFERENCE))
    for baseline in result.get("baselines") or []:
        bars.append((baseline["name"], float(baseline["test_accuracy"]), BASELINE))
    if not bars:
        return None
    values = [v for _, v, _ in bars]
    # Start a little below the lowest bar (on a 5-point step): from 0, 88.8 % and 89.8 %
    # would look the same.
    floor = max(0.0, math.floor((min(values) - 0.05) * 20) / 20)
    figure = Figure(figsize=(WIDTH, 0.45 * len(bars) + 0.8), layout="constrained")
    ax = figure.add_subplot()
    positions = range(len(bars))[::-1]
    ax.barh(
        positions,
        [v - floor for v in values],
        left=floor,
        height=0.6,
        color=[c for _, _, c in bars],
    )
    ax.set_yticks(list(positions), [_short(name, 34) for name, _, _ in bars])
    for y, v in zip(positions, values, strict=True):
        ax.text(v, y, " " + _pct_text(v, labels), va="center", ha="left")
    ax.set_xlim(floor, min(1.0, max(values) + 0.04) if max(values) < 0.97 else 1.0)
    ax.xaxis.set_major_formatter(_percent(labels))
    ax.xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 5, 10]))  # few labels fit a phone
    ax.grid(axis="y", visible=False)
    ax.set_axisbelow(True)  # grid lines behind the bars
    ax.set_xlabel(labels["test_accuracy"])
    return figure


def best_trial(result: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The trial whose hyperparameters are the best ones, else the best val_accuracy."""
    trials = result.get("trials") or []
    best_hp = result.get("best_hyperparameters") or {}
    for trial in trials:
        if best_hp and trial.get("hyperparameters") == best_hp:
            return trial
    scored = [t for t in trials if _finite(t.get("val_accuracy"))]
    return max(scored, key=lambda t: t["val_accuracy"]) if scored else None


# --- SVG out -----------------------------------------------------------------------------

_PROLOGUE = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*")
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_NAMESPACES = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_SIZE = re.compile(r'(<svg\b[^>]*?)\s+width="[^"]*"\s+height="[^"]*"')
_IDS = re.compile(r'\bid="([^"]+)"')
_REFS = re.compile(r'((?:xlink:)?href="#|url\(#)([^")]+)')


def _svg(figure: Figure, name: str, title: str) -> str:
    buffer = io.StringIO()
    FigureCanvasSVG(figure).print_svg(buffer, metadata={"Date": None})
    text = _PROLOGUE.sub("", buffer.getvalue())
    text = _METADATA.sub("", text)
    text = _NAMESPACES.sub("", text)
    # The viewBox stays: the CSS sizes the plot to the page (phones included).
    text = _SIZE.sub(r"\1", text, count=1)
    root_id = f"plot-{name}"
    text = _IDS.sub(lambda m: m.group(0) if m.group(1) == root_id else f'id="{name}-{m[1]}"', text)
    text = _REFS.sub(lambda m: f"{m[1]}{name}-{m[2]}", text)
    # matplotlib's one CSS rule is `*{...}`: scoped to this plot, not the whole page.
    text = text.replace('<style type="text/css">*{', f'<style type="text/css">#{root_id} *{{')
    label = html.escape(title, quote=True)
    text = text.replace(">", f' role="img" aria-label="{label}">\n<title>{label}</title>', 1)
    return text.strip() + "\n"


# --- formatting --------------------------------------------------------------------------


def _floats(values: Sequence[Any]) -> list[float]:
    """Nulls (non-finite values in the result) as NaN: a gap in the line, not an error."""
    return [float(v) if v is not None else math.nan for v in values]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _numeric(value: Any) -> bool:
    return _finite(value)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pct_text(fraction: float, labels: Labels) -> str:
    return f"{100 * fraction:.2f}".replace(".", labels["decimal"]) + " %"


def _percent(labels: Labels) -> FuncFormatter:
    return FuncFormatter(lambda v, _: f"{100 * v:.4g}".replace(".", labels["decimal"]) + " %")


def _number(labels: Labels, pattern: str) -> FuncFormatter:
    return FuncFormatter(lambda v, _: pattern.format(v).replace(".", labels["decimal"]))
