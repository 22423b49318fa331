"""What a submission declares, as data: the one message that carries student work to training.

Shared by the three rooms (the child writes it, the parent checks it, the trainer trains
it), so it imports nothing but the standard library: no TensorFlow, no student code.

The child answers a `DeclareRequest` ("build at these hyperparameter values") by running
the student's `build(hp)` and `fit(...)` against a recording model (nothing trains) and
writing a `Declaration`: the hyperparameters declared, the model's Keras config, the
compile config (optimizer with its schedule, loss, metrics) and the fit plan (batch size,
epochs, shuffle, callbacks). Every object in it is a standard Keras object's config, or a
table of learning rates where the student wrote the schedule as code. The trainer
(`grader/trainer/`) deserialises only standard Keras objects, in safe mode, and trains
exactly that; so what is judged is what is trained, whatever the child's process did.

NumPy's float64 is part of what trains. keras-tuner's Bayesian oracle proposes each Float
as a `numpy.float64`, and Keras' decaying schedules (all but PiecewiseConstantDecay)
compute in the dtype of their initial_learning_rate (`PolynomialDecay(numpy.float64(0.3),
...)` computes its rates in float64, a Python float in float32), so the notebook's
Bayesian trials train on other rates than its random ones.
JSON has one kind of number; the request names the values that are float64
(`FLOAT64`), and the declaration lists where its configs hold one (`Float64Paths`), so
the child builds with what the notebook's build gets and the trainer rebuilds what the
child's build made. Keras' own serialisation keeps a float64 (a subclass of float) and
turns other NumPy scalars into Python numbers; float32 computes as a Python float does.

`Declaration.from_json` is the only way in: it refuses anything not of this shape (types,
sizes, finite numbers), so the parent and the trainer hold typed values. The model and
compile configs stay JSON (Keras' own format); they are bounded in size and depth here
and measured by `grader.architecture` before anything is built.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from grader.child.protocol import PROTOCOL

DECLARATION_LIMIT = 8 * 1024 * 1024  # one declaration file (the tables dominate)
MAX_TABLE = 200_000  # learning rates in one table: 196 steps x 100 epochs is 19,600
MAX_CALLBACKS = 16
MAX_HYPERPARAMETERS = 64
MAX_DEPTH = 40  # nesting of the model and compile configs
MAX_REASONS = 16
MAX_TEXT = 2000
MAX_FLOAT64 = 256  # places a config holds a numpy.float64 (module docstring)
# keras-tuner's `HyperParameters.get_config()` as the grader sends it: plus the names of the
# values keras-tuner holds as numpy.float64 (optional; absent when there are none).
FLOAT64 = "float64"
# The marker callbacks the child passes a student's fit in kwargs["callbacks"]: a plan with
# fewer `tuner` entries dropped some of the tuner's callbacks (callbacks_passthrough).
TUNER_MARKERS = 2
DECLARE = "declare"  # the request's op
# The request the parent writes on the child's stdin, one JSON line (`DeclareRequest.to_json`).
REQUEST_LINE_LIMIT = 1024 * 1024


class DeclarationError(ValueError):
    """A declaration that is not of the protocol's shape (what, where)."""


class Outcome(StrEnum):
    OK = "ok"  # declared: the trainer can train it
    ERROR = "error"  # the student's build or fit raised: this trial fails, as in keras-tuner
    UNDECLARABLE = "undeclarable"  # runs, but is code the trainer cannot take: `reasons`


class RatePer(StrEnum):
    STEP = "step"  # one rate per optimizer step (a schedule, a per-batch callback)
    EPOCH = "epoch"  # one rate per epoch, set at the epoch's start (LearningRateScheduler)


@dataclass(frozen=True)
class RateTable:
    """Learning rates written as code, tabulated by the child over the budget's steps."""

    per: RatePer
    values: tuple[float, ...]
    name: str = ""  # the class or function the rates came from, for the report

    def to_data(self) -> dict[str, Any]:
        return {"per": self.per.value, "values": list(self.values), "name": self.name}

    @classmethod
    def from_data(cls, data: Any, where: str) -> RateTable:
        data = _mapping(data, where, {"per", "values", "name"}, optional={"name"})
        try:
            per = RatePer(data["per"])
        except ValueError:
            raise DeclarationError(f"{where}.per: not one of step, epoch") from None
        values = data["values"]
        if not isinstance(values, list) or not 0 < len(values) <= MAX_TABLE:
            raise DeclarationError(f"{where}.values: a list of 1 to {MAX_TABLE} rates")
        rates = tuple(_finite(v, f"{where}.values[{i}]", low=0.0) for i, v in enumerate(values))
        return cls(per, rates, _text(data.get("name", ""), f"{where}.name", 200))


class CallbackKind(StrEnum):
    TUNER = "tuner"  # one of the callbacks keras-tuner passed to fit, at this position
    KERAS = "keras"  # a standard Keras callback, rebuilt from its constructor arguments
    RATES = "rates"  # a callback that only sets the learning rate: its table


# The standard callbacks the trainer rebuilds, and the constructor arguments it accepts.
KERAS_CALLBACKS: Mapping[str, frozenset[str]] = {
    "EarlyStopping": frozenset(
        {
            "monitor",
            "min_delta",
            "patience",
            "verbose",
            "mode",
            "baseline",
            "restore_best_weights",
            "start_from_epoch",
        }
    ),
    "ReduceLROnPlateau": frozenset(
        {"monitor", "factor", "patience", "verbose", "mode", "min_delta", "cooldown", "min_lr"}
    ),
    "TerminateOnNaN": frozenset(),
}


@dataclass(frozen=True)
class CallbackPlan:
    kind: CallbackKind
    class_name: str = ""  # KERAS: which; RATES: the student's class, for the report
    args: Mapping[str, Any] = field(default_factory=dict)  # KERAS: constructor arguments
    rates: RateTable | None = None  # RATES

    def to_data(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "class_name": self.class_name,
            "args": dict(self.args),
            "rates": self.rates.to_data() if self.rates else None,
        }

    @classmethod
    def from_data(cls, data: Any, where: str) -> CallbackPlan:
        data = _mapping(data, where, {"kind", "class_name", "args", "rates"})
        try:
            kind = CallbackKind(data["kind"])
        except ValueError:
            raise DeclarationError(f"{where}.kind: not one of tuner, keras, rates") from None
        name = _text(data["class_name"], f"{where}.class_name", 200)
        args = data["args"]
        if not isinstance(args, dict):
            raise DeclarationError(f"{where}.args: not an object")
        rates = None
        if kind is CallbackKind.KERAS:
            allowed = KERAS_CALLBACKS.get(name)
            if allowed is None:
                raise DeclarationError(f"{where}.class_name: {name!r} is not rebuilt by the grader")
            unknown = sorted(set(args) - allowed)
            if unknown:
                raise DeclarationError(f"{where}.args: {', '.join(unknown)} not accepted")
            for key, value in args.items():
                _scalar(value, f"{where}.args.{key}")
        elif args:
            raise DeclarationError(f"{where}.args: only a keras callback has arguments")
        if kind is CallbackKind.RATES:
            rates = RateTable.from_data(data["rates"], f"{where}.rates")
        elif data["rates"] is not None:
            raise DeclarationError(f"{where}.rates: only a rates callback has a table")
        return cls(kind, name, dict(args), rates)


@dataclass(frozen=True)
class FitPlan:
    """The one `model.fit` call the student's `fit` makes, as the trainer will make it.

    The data arguments are not here: a declarable fit passes the tuner's own `x`, `y`
    and validation through unchanged (the child checks it), and the trainer passes its own.
    """

    batch_size: int | None  # None: Keras' default (32)
    epochs: int  # as asked; the trainer caps it at the budget's max_epochs
    shuffle: bool
    callbacks: tuple[CallbackPlan, ...]

    def to_data(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "shuffle": self.shuffle,
            "callbacks": [c.to_data() for c in self.callbacks],
        }

    @classmethod
    def from_data(cls, data: Any, where: str) -> FitPlan:
        data = _mapping(data, where, {"batch_size", "epochs", "shuffle", "callbacks"})
        batch = data["batch_size"]
        if batch is not None:
            batch = _int(batch, f"{where}.batch_size", 1, 10_000_000)
        epochs = _int(data["epochs"], f"{where}.epochs", 1, 1_000_000)
        if type(data["shuffle"]) is not bool:
            raise DeclarationError(f"{where}.shuffle: not true or false")
        callbacks = data["callbacks"]
        if not isinstance(callbacks, list) or len(callbacks) > MAX_CALLBACKS:
            raise DeclarationError(f"{where}.callbacks: a list of at most {MAX_CALLBACKS}")
        plans = tuple(
            CallbackPlan.from_data(c, f"{where}.callbacks[{i}]") for i, c in enumerate(callbacks)
        )
        return cls(batch, epochs, data["shuffle"], plans)


@dataclass(frozen=True)
class StudentError:
    """The student's build or fit raised (the trial fails, with this message)."""

    type: str
    message: str
    cell: int | None
    line: int | None

    @classmethod
    def from_data(cls, data: Any, where: str) -> StudentError:
        data = _mapping(data, where, {"type", "message", "location"})
        location = data["location"]
        cell = line = None
        if location is not None:
            location = _mapping(location, f"{where}.location", {"cell", "line"})
            if location["cell"] is not None:
                cell = _int(location["cell"], f"{where}.location.cell", 1, 1_000_000)
            line = _int(location["line"], f"{where}.location.line", 1, 10_000_000)
        return cls(
            _text(data["type"], f"{where}.type", 200),
            _text(data["message"], f"{where}.message", MAX_TEXT),
            cell,
            line,
        )

    def to_data(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "location": None if self.line is None else {"cell": self.cell, "line": self.line},
        }


ConfigPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Float64Paths:
    """Where the model and compile configs hold a numpy.float64 (module docstring): each
    a path of keys and list indices to a number of that config."""

    model: tuple[ConfigPath, ...] = ()
    compile: tuple[ConfigPath, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.model or self.compile)

    def to_data(self) -> dict[str, Any]:
        return {"model": [list(p) for p in self.model], "compile": [list(p) for p in self.compile]}

    @classmethod
    def from_data(cls, data: Any, configs: Mapping[str, Any]) -> Float64Paths:
        data = _mapping(data, FLOAT64, {"model", "compile"})
        found: dict[str, tuple[ConfigPath, ...]] = {}
        for part in ("model", "compile"):
            paths = data[part]
            where = f"{FLOAT64}.{part}"
            if not isinstance(paths, list) or len(paths) > MAX_FLOAT64:
                raise DeclarationError(f"{where}: a list of at most {MAX_FLOAT64} paths")
            found[part] = tuple(
                _float_path(path, configs.get(part), f"{where}[{i}]")
                for i, path in enumerate(paths)
            )
        return cls(found["model"], found["compile"])


def _float_path(path: Any, config: Any, where: str) -> ConfigPath:
    """A path that leads, key by key, to a float of `config`."""
    if not isinstance(path, list) or not 0 < len(path) <= MAX_DEPTH:
        raise DeclarationError(f"{where}: a list of 1 to {MAX_DEPTH} keys")
    item = config
    for step in path:
        by_key = isinstance(item, dict) and isinstance(step, str) and step in item
        by_index = isinstance(item, list) and type(step) is int and 0 <= step < len(item)
        if not (by_key or by_index):
            raise DeclarationError(f"{where}: {step!r} leads nowhere in the config")
        item = item[step]
    if type(item) is not float:
        raise DeclarationError(f"{where}: does not lead to a number with a fraction")
    return tuple(path)


@dataclass(frozen=True)
class Declaration:
    """The child's answer to one `DeclareRequest` (see the module docstring)."""

    n: int  # the request's number: an answer to another request is refused
    outcome: Outcome
    # keras-tuner's `HyperParameters.get_config()` after build and fit: the space in the
    # order the student declared it and the values used. `build_count`: how many of the
    # space's entries build(hp) declared (the rest were declared in fit, and the trainer
    # declares them in fit too, as keras-tuner sees them in the notebook).
    hyperparameters: Mapping[str, Any]
    build_count: int
    model: Mapping[str, Any] | None  # Keras' model config (`model.to_json()`, no compile)
    compile: Mapping[str, Any] | None  # `model.get_compile_config()`, serialised
    # The optimizer's learning rate when the student wrote it as code (a schedule class):
    # the trainer trains with this table instead of the config's learning_rate.
    learning_rate: RateTable | None
    fit: FitPlan | None
    reasons: tuple[str, ...] = ()  # UNDECLARABLE: why, for the report
    error: StudentError | None = None  # ERROR
    # OK: where the configs hold a numpy.float64 (the module docstring).
    float64: Float64Paths = field(default_factory=Float64Paths)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Declaration:
        try:
            data = json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise DeclarationError(f"not JSON ({exc})") from None
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: Any) -> Declaration:
        keys = {"protocol", "n", "outcome", "hyperparameters", "build_count", "model",
                "compile", "learning_rate", "fit", "reasons", "error", FLOAT64}  # fmt: skip
        data = _mapping(data, "declaration", keys, optional={FLOAT64})
        _depth(data, "declaration")
        n = _int(data["n"], "n", 0, 1_000_000_000)
        try:
            outcome = Outcome(data["outcome"])
        except ValueError:
            raise DeclarationError("outcome: not one of ok, error, undeclarable") from None
        space = _hyperparameters(data["hyperparameters"])
        count = len(space["space"])
        build_count = _int(data["build_count"], "build_count", 0, count)
        reasons = data["reasons"]
        if not isinstance(reasons, list) or len(reasons) > MAX_REASONS:
            raise DeclarationError(f"reasons: a list of at most {MAX_REASONS}")
        reasons = tuple(_text(r, f"reasons[{i}]", MAX_TEXT) for i, r in enumerate(reasons))
        error = None
        if data["error"] is not None:
            error = StudentError.from_data(data["error"], "error")
        model = compile_ = lr = plan = None
        float64 = Float64Paths()
        if outcome is Outcome.OK:
            model = _config(data["model"], "model")
            compile_ = _config(data["compile"], "compile")
            if data.get(FLOAT64) is not None:
                float64 = Float64Paths.from_data(
                    data[FLOAT64], {"model": model, "compile": compile_}
                )
            if data["learning_rate"] is not None:
                lr = RateTable.from_data(data["learning_rate"], "learning_rate")
            plan = FitPlan.from_data(data["fit"], "fit")
            if error is not None or reasons:
                raise DeclarationError("an ok declaration has no error and no reasons")
        elif outcome is Outcome.ERROR and error is None:
            raise DeclarationError("error: missing for an error declaration")
        elif outcome is Outcome.UNDECLARABLE and not reasons:
            raise DeclarationError("reasons: missing for an undeclarable submission")
        if outcome is not Outcome.OK and data.get(FLOAT64) is not None:
            raise DeclarationError(f"{FLOAT64}: only an ok declaration has configs")
        return cls(
            n, outcome, space, build_count, model, compile_, lr, plan, reasons, error, float64
        )

    def to_data(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL,
            "n": self.n,
            "outcome": self.outcome.value,
            "hyperparameters": _thaw(self.hyperparameters),
            "build_count": self.build_count,
            "model": _thaw(self.model),
            "compile": _thaw(self.compile),
            "learning_rate": self.learning_rate.to_data() if self.learning_rate else None,
            "fit": self.fit.to_data() if self.fit else None,
            "reasons": list(self.reasons),
            "error": self.error.to_data() if self.error else None,
            FLOAT64: self.float64.to_data() if self.outcome is Outcome.OK else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_data(), allow_nan=False, separators=(",", ":"))

    @property
    def values(self) -> Mapping[str, Any]:
        return self.hyperparameters["values"]

    def what_trains(self) -> dict[str, Any]:
        """Everything that decides the numbers training produces, and nothing else.

        Labels that change no number are set aside (`canonical`): the names of the
        model, its layers, the optimizer and the schedule. The hyperparameters' values
        are in it (the trial's); their declared ranges are not (they steer the search,
        which is keyed by its trials, not train one). Where the configs hold a
        numpy.float64 is in it when there is one (a declaration without any keeps the key
        it had before float64 was told apart: it trained the same then).
        """
        trains = {
            "model": canonical_model(_thaw(self.model)),
            "compile": canonical_compile(_thaw(self.compile)),
            "learning_rate": self.learning_rate.to_data() if self.learning_rate else None,
            "fit": self.fit.to_data() if self.fit else None,
        }
        if self.float64:
            trains[FLOAT64] = self.float64.to_data()
        return trains

    def key(self) -> str:
        """SHA-256 of `what_trains`, as canonical JSON; for a declaration that trains
        nothing (an error, an undeclarable submission), of what the trial will say."""
        if self.outcome is not Outcome.OK:
            return digest(
                {
                    "outcome": self.outcome.value,
                    "error": self.error.to_data() if self.error else None,
                    "reasons": list(self.reasons),
                }
            )
        return digest(self.what_trains())


@dataclass(frozen=True)
class DeclareRequest:
    """Parent -> child: "build at these values". `hyperparameters` is keras-tuner's
    `HyperParameters.get_config()` of the trial (space so far and values)."""

    n: int
    hyperparameters: Mapping[str, Any]

    def to_json(self) -> str:
        return json.dumps(
            {"op": DECLARE, "n": self.n, "hyperparameters": _thaw(self.hyperparameters)},
            allow_nan=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> DeclareRequest:
        data = json.loads(raw)
        data = _mapping(data, "request", {"op", "n", "hyperparameters"})
        if data["op"] != DECLARE:
            raise DeclarationError(f"op: {data['op']!r} is not {DECLARE!r}")
        n = _int(data["n"], "n", 0, 1_000_000_000)
        return cls(n, _hyperparameters(data["hyperparameters"]))


# --- canonical form ----------------------------------------------------------------------
# Names are labels: the model's, a Sequential model's layers' (a functional model wires its
# layers by name, so there they stay), the optimizer's and its schedule's. They change no
# number (proved by tests/test_trainer.py: both forms train to the same weights). A dtype
# policy's "name" is not a label (float32 or mixed_float16), nor is a metric's (it names the
# logged key a callback monitors): only these places are touched.


def canonical_model(config: Any) -> Any:
    """A model config without its labels (a copy)."""
    config = json.loads(json.dumps(config))
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        return config
    inner = config.get("config")
    if isinstance(inner, dict):
        inner.pop("name", None)
        for layer in inner.get("layers") or []:
            if isinstance(layer, dict) and isinstance(layer.get("config"), dict):
                layer["config"].pop("name", None)
    return config


def canonical_compile(config: Any) -> Any:
    """A compile config without the optimizer's and its schedule's names (a copy)."""
    config = json.loads(json.dumps(config))
    optimizer = config.get("optimizer") if isinstance(config, dict) else None
    inner = optimizer.get("config") if isinstance(optimizer, dict) else None
    if isinstance(inner, dict):
        inner.pop("name", None)
        schedule = inner.get("learning_rate")
        if isinstance(schedule, dict) and isinstance(schedule.get("config"), dict):
            schedule["config"].pop("name", None)
    return config


def digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- checks ----------------------------------------------------------------------------------
def _mapping(
    data: Any, where: str, keys: set[str], optional: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DeclarationError(f"{where}: not an object")
    extra = set(data) - keys
    missing = keys - set(data) - {"protocol"} - set(optional)
    if extra or missing:
        said = ", ".join(sorted(extra)) or "-"
        lacking = ", ".join(sorted(missing)) or "-"
        raise DeclarationError(f"{where}: unexpected keys {said}; missing {lacking}")
    return data


def _int(value: Any, where: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise DeclarationError(f"{where}: not a whole number from {low} to {high}")
    return value


def _finite(value: Any, where: str, *, low: float = -math.inf) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value < low:
        raise DeclarationError(f"{where}: not a finite number of at least {low}")
    return float(value)


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise DeclarationError(f"{where}: not a text of at most {limit} characters")
    return value


def _scalar(value: Any, where: str) -> None:
    if value is None or type(value) in (bool, str):
        if isinstance(value, str) and len(value) > 200:
            raise DeclarationError(f"{where}: text too long")
        return
    _finite(value, where)


def space_record(class_name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """One keras-tuner hyperparameter (its class name and `get_config()`) as the probe's
    record and the search_space check describe it: the probe's view and the declared one
    read alike."""
    return {
        "name": config.get("name"),
        "type": class_name,
        "min": config.get("min_value"),
        "max": config.get("max_value"),
        "step": config.get("step"),
        "sampling": config.get("sampling"),
        "default": config.get("default"),
        "values": config.get("values"),
    }


def _hyperparameters(data: Any) -> dict[str, Any]:
    data = _mapping(data, "hyperparameters", {"space", "values", FLOAT64}, optional={FLOAT64})
    space, values = data["space"], data["values"]
    if not isinstance(space, list) or len(space) > MAX_HYPERPARAMETERS:
        raise DeclarationError(f"hyperparameters.space: a list of at most {MAX_HYPERPARAMETERS}")
    for i, entry in enumerate(space):
        where = f"hyperparameters.space[{i}]"
        entry = _mapping(entry, where, {"class_name", "config"})
        if entry["class_name"] not in ("Float", "Int", "Choice", "Boolean", "Fixed"):
            raise DeclarationError(f"{where}.class_name: not a keras-tuner hyperparameter")
        if not isinstance(entry["config"], dict):
            raise DeclarationError(f"{where}.config: not an object")
        _depth(entry["config"], where, limit=6)
    if not isinstance(values, dict) or len(values) > MAX_HYPERPARAMETERS:
        raise DeclarationError("hyperparameters.values: an object of at most 64 values")
    for name, value in values.items():
        _text(name, "hyperparameters.values", 200)
        _scalar(value, f"hyperparameters.values.{name}")
    names = data.get(FLOAT64, [])
    if (
        not isinstance(names, list)
        or len(set(map(str, names))) != len(names)  # distinct: at most one per value
        or any(not isinstance(name, str) or type(values.get(name)) is not float for name in names)
    ):
        raise DeclarationError(f"hyperparameters.{FLOAT64}: names of values with a fraction")
    return data


def _config(value: Any, where: str) -> dict[str, Any]:
    """A Keras config, copied: the declaration owns it (a deserialiser may mutate what it
    is given; the key must stay the key of what was declared)."""
    if not isinstance(value, dict):
        raise DeclarationError(f"{where}: not an object")
    return json.loads(json.dumps(value, allow_nan=False))


def _depth(value: Any, where: str, limit: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than `limit` (iteratively: no recursion to exhaust)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise DeclarationError(f"{where}: nested deeper than {limit}")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise DeclarationError(f"{where}: a number that is not finite")


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")
