"""The train stage: the child declares, the grader's trainer trains (docs/SECURITY.md).

`train` starts the submission's child in serve mode (`grader.runner.start_session`): it
runs the student's statements and the probe, then answers "declare at these
hyperparameter values" requests. The trainer (`grader/trainer/`, the grader's own
TensorFlow process, no student code) runs the exam's search; each time keras-tuner builds
a model it asks for the declaration at that trial's values, and this module relays the
request to the child, checks the answer (`Declaration.from_json`: shape, sizes, finite
numbers; `grader.architecture`: standard layers, parameter and multiply-add ceilings) and
hands it to the trainer. The trainer evaluates its best model on the test set itself.

So the grade rests on what the trainer trained from a declaration, not on any file the
student's process wrote: `training = "grader"`. A submission whose code cannot be
declared (a custom layer, a callback that reads the training's metrics, a fit that is not
one `model.fit`) is trained in the sandbox as before (`training = "sandbox"`): the child
is told to run the search itself, and the pipeline evaluates its files as it always did.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader import architecture, i18n, store
from grader.artifacts import DeclaredEvidence
from grader.boundary import AnswerStatus, ChildAnswer, parse_answer_data
from grader.child.declaration import FLOAT64, Declaration, DeclareRequest, Outcome
from grader.child.protocol import PROGRESS_NAME, PROTOCOL, ProgressLine
from grader.errors import SubmissionError
from grader.evaluate import Evaluation, scores, within_ceilings
from grader.evaluator import Evaluator
from grader.limits import Limits
from grader.runner import ChildEnd, ChildEnded, ChildOutcome, ChildSession, DeclarationTimeout
from grader.trainer.wire import Purpose, SearchAnswer, SearchRequest, TrainerStatus

STATUS_MESSAGES = i18n.messages("status_messages")


@dataclass(frozen=True)
class Declared:
    """One relayed declaration, in the order the trainer asked for them."""

    purpose: str
    hyperparameters: dict[str, Any]
    key: str  # Declaration.key(): what it trains
    declaration: Declaration


@dataclass(frozen=True)
class Trained:
    """What the train stage produced for the pipeline."""

    outcome: ChildOutcome  # the child's, its answer holding the trainer's trials and best
    training: str  # "grader", "sandbox" (the child trained), or "" (nothing trained)
    evaluation: Evaluation | None = None
    best: Declaration | None = None  # what the best model was built from (grader only)
    failure: SubmissionError | None = None  # overrides the result's status and message
    reasons: tuple[str, ...] = ()  # why the submission could not be declared (sandbox)
    declarations: tuple[Declared, ...] = ()
    shared: bool = False  # a stored search of another submission's (SearchStore.replay)
    inconsistent: bool = False  # the child declared two things for the same values

    @property
    def model_json(self) -> str | None:
        """The best model's architecture as Keras writes it (no compile config)."""
        return None if self.best is None else json.dumps(self.best.model)

    @property
    def keras_config(self) -> dict[str, Any] | None:
        """The best model's config with its compile config, as a `.keras` file's
        config.json holds it. A rate written as code was trained from its table: the
        number that stands in for it in the compile config is replaced by the schedule's
        name, a schedule the parent cannot compute (the checks read the probe's samples,
        cross-checked with the declared table: `default_rates`)."""
        if self.best is None or self.best.model is None:
            return None
        config = json.loads(json.dumps(self.best.model))
        compiled = json.loads(json.dumps(self.best.compile))
        table = self.best.learning_rate
        optimizer = compiled.get("optimizer") if isinstance(compiled, dict) else None
        inner = optimizer.get("config") if isinstance(optimizer, dict) else None
        if table is not None and isinstance(inner, dict):
            inner["learning_rate"] = {
                "module": None,
                "class_name": table.name or "schedule",
                "config": {},
                "registered_name": None,
            }
        config["compile_config"] = compiled
        return config

    @property
    def _at_defaults(self) -> Declaration | None:
        """What was declared at the default values (keras-tuner's first build, the
        values the probe built with too)."""
        first = [d.declaration for d in self.declarations if d.purpose == Purpose.SPACE]
        return first[0] if first else None

    @property
    def default_callback_rates(self) -> tuple[tuple[str, tuple[str, tuple[float, ...]]], ...]:
        """The rate tables of the callbacks declared at the default values, by class."""
        found = self._at_defaults
        if found is None or found.fit is None:
            return ()
        return tuple(
            (plan.class_name, (plan.rates.per.value, plan.rates.values))
            for plan in found.fit.callbacks
            if plan.rates is not None
        )

    @property
    def evidence(self) -> DeclaredEvidence:
        """What the trainer trained, for the checks (grader.artifacts.DeclaredEvidence)."""
        fits: list[dict[str, Any]] = []
        space: dict[str, Any] = {}
        for declared in self.declarations:
            found = declared.declaration
            if found.fit is not None and (plan := found.fit.to_data()) not in fits:
                fits.append(plan)
            for entry in found.hyperparameters["space"]:
                space.setdefault(str(entry["config"].get("name")), entry)
        return DeclaredEvidence(
            rates=self.default_rates,
            callback_rates=self.default_callback_rates,
            fits=tuple(fits),
            space=tuple(space.values()),
        )

    @property
    def default_rates(self) -> tuple[float, ...] | None:
        """The rate table declared at the default values, when the rate is written as code."""
        found = self._at_defaults
        table = found.learning_rate if found is not None else None
        return None if table is None else table.values

    @property
    def saved_optimizer(self) -> dict[str, Any] | None:
        compiled = self.keras_config and self.keras_config.get("compile_config")
        optimizer = compiled.get("optimizer") if isinstance(compiled, dict) else None
        return optimizer if isinstance(optimizer, dict) else None


@dataclass
class _Relay:
    """Answers the trainer's requests for declarations by asking the child."""

    session: ChildSession
    limits: Limits
    seconds: float
    images: tuple[int, ...]  # one test image's shape: what the declared model is fed
    lang: str = "en"
    asked: int = 0  # requests sent to the child (its declare-<n>.json names)
    declared: list[Declared] = field(default_factory=list)  # the ones that train
    steps: list[list[Any]] = field(default_factory=list)  # [purpose, hyperparameters, key]
    reasons: tuple[str, ...] = ()  # the child said: cannot be declared
    failure: SubmissionError | None = None  # the declaration was refused
    error: Declaration | None = None  # the last declaration whose build or fit raised
    # The same values asked twice (a trial and the best model's rebuild) must give the
    # same declaration; a child that answers otherwise is told so in its report.
    seen: dict[str, str] = field(default_factory=dict)
    inconsistent: bool = False

    def restart(self) -> None:
        """Forget what a replay learned: the trainer will ask everything again."""
        self.declared, self.steps, self.seen = [], [], {}
        self.reasons, self.failure, self.error, self.inconsistent = (), None, None, False

    def __call__(self, purpose: str, hyperparameters: dict[str, Any]) -> Declaration | str:
        self.asked += 1
        try:
            declaration = self.session.declare(
                DeclareRequest(self.asked, hyperparameters), self.seconds
            )
        except SubmissionError as exc:
            self.failure = exc
            return exc.message
        key = declaration.key()
        values = json.dumps(
            [hyperparameters.get("values", {}), hyperparameters.get(FLOAT64, [])], sort_keys=True
        )
        if self.seen.setdefault(values, key) != key:
            self.inconsistent = True
        self.steps.append([purpose, hyperparameters, key])
        if declaration.outcome is Outcome.UNDECLARABLE:
            self.reasons = declaration.reasons
            return "; ".join(declaration.reasons)
        if declaration.outcome is Outcome.ERROR:
            self.error = declaration
            return declaration
        try:
            measured = architecture.read_architecture(
                json.dumps(declaration.model), images=self.images, lang=self.lang
            )
            if measured.standard:
                within_ceilings(measured, self.limits, self.lang, declared=True)
        except SubmissionError as exc:
            self.failure = exc
            return exc.message
        if not measured.standard:
            self.reasons = tuple(measured.problems[:4])
            return "; ".join(self.reasons)
        self.declared.append(Declared(purpose, hyperparameters, key, declaration))
        return declaration


def progress_to(scratch: Path) -> Callable[[ProgressLine], None]:
    """Append the trainer's progress lines to `<scratch>/progress.jsonl`, where the batch's
    display (grader.progress) and the parent's trial clock read a child's: the train stage
    looks the same from outside. Opened without following a link and without blocking on a
    pipe the child may have put there (then the line is dropped: the display is the child's
    own business, the grade is not)."""
    path = scratch / PROGRESS_NAME

    def write(line: ProgressLine) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(path, flags, 0o644)
        except OSError:
            return
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.write(fd, (line.to_json() + "\n").encode("utf-8"))
        except OSError:
            pass
        finally:
            os.close(fd)

    return write


@dataclass(frozen=True)
class Plan:
    """Everything the train stage needs besides the child's session."""

    search: Callable[[str], SearchRequest]  # the trainer's request, given its folder
    trainer: Evaluator
    limits: Limits
    seconds: float  # the whole search's limit (the budget's hard limit)
    objective: str
    test_images: np.ndarray | None  # None: no test evaluation
    test_labels: np.ndarray | None
    labels: str
    num_classes: int
    lang: str = "en"
    on_progress: Callable[[Any], None] | None = None
    store: SearchStore | None = None  # where searches are shared; None: never

    @property
    def image_shape(self) -> tuple[int, ...]:
        """One test image's shape: what every declared model is measured as fed."""
        return () if self.test_images is None else tuple(self.test_images.shape[1:])


@dataclass(frozen=True)
class SearchStore:
    """The results store's `searches` table, under one `base` (what else trains)."""

    path: Path
    base: str
    read: bool = True  # False (`--force`): record, never reuse

    def replay(self, relay: _Relay) -> dict[str, Any] | None:
        """A stored search this submission's declarations repeat, or None.

        The trainer's search is deterministic: given the same declarations at the same
        requests, it asks the same next request and trains the same numbers. So the stored
        searches are walked request by request, asking the child each time (cheap: a
        build and a recorded fit), and kept while its declaration has the stored key. One
        that reaches its end is this submission's search, trained once for all of them.
        """
        if not self.read:
            return None
        candidates = []
        for steps_text, outcome_text in store.read_searches(self.path, self.base):
            try:
                candidates.append((json.loads(steps_text), json.loads(outcome_text)))
            except ValueError:
                continue
        step = 0
        while candidates:
            purpose, hyperparameters, _ = candidates[0][0][step]
            reply = relay(purpose, hyperparameters)
            if isinstance(reply, str):
                return None
            key = relay.steps[-1][2]
            candidates = [
                (steps, outcome)
                for steps, outcome in candidates
                if len(steps) > step and steps[step] == [purpose, hyperparameters, key]
            ]
            finished = [outcome for steps, outcome in candidates if len(steps) == step + 1]
            if finished:
                return finished[0]
            step += 1
        return None

    def record(self, relay: _Relay, reply: SearchAnswer, evaluation: Evaluation | None) -> None:
        """Keep a search that ended by itself: one cut by the clock would not repeat."""
        stopped = any(t.status == "stopped" for t in reply.trials)
        if stopped or "search_stopped_for_time" in reply.notes:
            return
        outcome: dict[str, Any] = {"reply": reply.to_json(), "evaluation": None}
        if evaluation is not None:
            outcome["evaluation"] = {
                "test_accuracy": evaluation.test_accuracy,
                "test_loss": evaluation.test_loss,
                "samples": evaluation.samples,
                "params": evaluation.params,
                "macs": evaluation.macs,
            }
        steps = json.dumps(relay.steps, sort_keys=True, separators=(",", ":"))
        text = json.dumps(outcome, allow_nan=False, separators=(",", ":"))
        store.write_search(self.path, self.base, steps, text)


def train(session: ChildSession, plan: Plan) -> Trained:
    """Run the train stage on a started session (module docstring); never raises for
    anything the submission does. A grader fault still ends the child before it rises."""
    try:
        return _train(session, plan)
    except BaseException:
        session.stop()
        raise


def _train(session: ChildSession, plan: Plan) -> Trained:
    served = session.serving(plan.objective)
    if served is None:  # the statements or the probe failed: the child's answer says how
        return Trained(session.finish(), "")
    if served.probe is None or not _searchable(served):
        return Trained(session.finish(), "")
    relay = _Relay(
        session,
        plan.limits,
        float(plan.limits.declare_seconds),
        images=plan.image_shape,
        lang=plan.lang,
    )
    shared = plan.store.replay(relay) if plan.store is not None else None
    if shared is not None:
        return _shared(session, shared, relay, plan)
    relay.restart()
    folder = plan.trainer.request_folder()
    request = plan.search(str(folder))
    try:
        reply = plan.trainer.search(
            request,
            images=plan.test_images,
            relay=relay,
            on_progress=plan.on_progress,
            seconds=plan.seconds,
        )
    except SubmissionError as exc:  # the trainer's time or memory limit: this model's cost
        return Trained(session.stop(), "grader", failure=exc)
    status = reply.status
    if status == TrainerStatus.ABORTED and relay.reasons and relay.failure is None:
        session.search_here()  # the sandbox trains it, as before this stage existed
        return Trained(session.finish(), "sandbox", reasons=relay.reasons)
    declared = tuple(relay.declared)
    if status == TrainerStatus.ABORTED:
        failure = _said(relay.failure, plan.lang)
        if failure is None and not isinstance(relay.failure, ChildEnded):
            reason = reply.message
            text = STATUS_MESSAGES["declaration_refused"][plan.lang].format(reason=reason)
            failure = SubmissionError(text)
        return Trained(session.stop(), "grader", failure=failure, declarations=declared)
    outcome = session.finish()
    if status not in (TrainerStatus.OK, TrainerStatus.STUDENT_ERROR):
        raise RuntimeError(f"the trainer failed: {reply.message}")  # the grader's bug
    answer = _answer(outcome, reply, relay, plan.objective)
    best = _best_declaration(reply, declared)
    evaluation = None
    predictions = reply.predictions
    if status == TrainerStatus.OK and predictions and plan.test_labels is not None:
        evaluation = _evaluation(Path(predictions), folder, best, plan)
    if status == TrainerStatus.OK and plan.store is not None and not relay.inconsistent:
        plan.store.record(relay, reply, evaluation)
    return Trained(
        _with_answer(outcome, answer),
        "grader",
        evaluation=evaluation,
        best=best,
        declarations=declared,
        inconsistent=relay.inconsistent,
    )


def _shared(session: ChildSession, stored: dict[str, Any], relay: _Relay, plan: Plan) -> Trained:
    """A stored search this submission repeats (`SearchStore.replay`), as its own."""
    outcome = session.finish()
    reply = SearchAnswer.from_json(stored["reply"])
    declared = tuple(relay.declared)
    answer = _answer(outcome, reply, relay, plan.objective)
    values = stored.get("evaluation")
    evaluation = None if values is None else Evaluation(**values)
    return Trained(
        _with_answer(outcome, answer),
        "grader",
        evaluation=evaluation,
        best=_best_declaration(reply, declared),
        declarations=declared,
        shared=True,
    )


def _said(failure: SubmissionError | None, lang: str) -> SubmissionError | None:
    """A relay's failure in the student's language (its status kept)."""
    if failure is None or isinstance(failure, ChildEnded):  # its outcome says why
        return None
    if failure.status == "resource_limit":  # a ceiling's own sentence, in `lang`
        return failure
    if isinstance(failure, DeclarationTimeout):
        text = STATUS_MESSAGES["declare_timeout"][lang].format(seconds=failure.seconds)
    else:
        text = STATUS_MESSAGES["declaration_refused"][lang].format(reason=failure.message)
    return SubmissionError(text, status=failure.status)


def _searchable(answer: ChildAnswer) -> bool:
    structure = answer.probe.structure if answer.probe is not None else {}
    return bool(structure.get("is_hypermodel") and structure.get("instantiated"))


def _best_declaration(reply: SearchAnswer, declared: tuple[Declared, ...]) -> Declaration | None:
    """The declaration the best trial trained (its key, as the trainer logged it): what the
    checks judge. Not the best model's rebuild, which a child may answer otherwise."""
    best = reply.best
    if best is None:
        return None
    trained = [d for d in declared if d.purpose == Purpose.TRIAL and d.key == best.declaration]
    return trained[-1].declaration if trained else None


def _answer(
    outcome: ChildOutcome, reply: SearchAnswer, relay: _Relay, objective: str
) -> ChildAnswer:
    """The child's answer (probe, imports, versions) with the trainer's trials and best,
    checked by the same boundary parser as anything a child says."""
    base = outcome.answer.to_dict() if outcome.answer is not None else {}
    trials = []
    for trial in reply.trials:
        trials.append(
            {
                "id": trial.id,
                "hyperparameters": trial.hyperparameters,
                objective: trial.score,
                "epochs": trial.epochs,
                "seconds": trial.seconds,
                "status": trial.status,
                "history": trial.history,
                "message": trial.message,
                "fit_calls": list(trial.fit_calls),
            }
        )
    best = reply.best
    optimizer_class = None
    declaration = relay.declared[-1].declaration if relay.declared else None
    if declaration is not None and isinstance(declaration.compile, dict):
        optimizer = declaration.compile.get("optimizer")
        if isinstance(optimizer, dict):
            optimizer_class = optimizer.get("class_name")
    data = {
        **base,
        "protocol": PROTOCOL,
        "stage": "search",
        "trials": trials,
        "best": None
        if best is None
        else {
            "trial_id": best.trial_id,
            "hyperparameters": best.hyperparameters,
            objective: best.score,
            "model_json": None,
            "weights": None,
            "model_file": None,
            "optimizer_class": optimizer_class,
        },
        "notes": [*base.get("notes", []), *reply.notes],
    }
    if reply.status == TrainerStatus.STUDENT_ERROR:
        error = relay.error.error if relay.error is not None else None
        location = None
        if error is not None and error.line is not None:
            location = {"cell": error.cell, "line": error.line}
        data["status"] = AnswerStatus.ERROR.value
        data["message"] = reply.message
        data["error"] = {
            "type": error.type if error else "Error",
            "message": error.message if error else reply.message,
            "location": location,
        }
    return parse_answer_data(data, objective=objective)


def _with_answer(outcome: ChildOutcome, answer: ChildAnswer) -> ChildOutcome:
    """The child's outcome carrying the composed answer. A child that ended as asked is
    FINISHED; any limit it broke while serving stays as it was."""
    from dataclasses import replace

    end = outcome.end
    if end is ChildEnd.CRASHED and outcome.answer is not None:
        end = ChildEnd.FINISHED if outcome.answer.status is AnswerStatus.OK else end
    return replace(outcome, end=end, answer=answer)


def _evaluation(
    predictions: Path, folder: Path, best: Declaration | None, plan: Plan
) -> Evaluation:
    if predictions.parent != folder:
        raise RuntimeError("the trainer answered with a file outside its request")
    probabilities = np.load(predictions, allow_pickle=False)
    assert plan.test_labels is not None
    accuracy, loss = scores(
        probabilities, plan.test_labels, labels=plan.labels, num_classes=plan.num_classes
    )
    params = macs = None
    if best is not None and best.model is not None:
        measured = architecture.read_architecture(
            json.dumps(best.model), images=plan.image_shape, lang=plan.lang
        )
        params, macs = measured.params, measured.macs
    return Evaluation(
        test_accuracy=accuracy,
        test_loss=loss,
        samples=len(plan.test_labels),
        params=params,
        macs=macs,
    )
