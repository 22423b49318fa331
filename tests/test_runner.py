"""The child process boundary: hard timeout, crashes, answers read as data only."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from grader import limits, runner, score
from grader.boundary import BoundaryError, HostileFile
from grader.child.protocol import ChildRequest, ProgressEvent, ProgressLine, SearchBudget
from grader.limits import Limits
from grader.runner import ChildEnd, Confinement
from grader.sandbox import Sandbox

# The fake workers run unsandboxed: a deliberate decision, as every caller must make one.
BARE = Confinement(Sandbox(None))

CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.fixture
def fake_worker(monkeypatch: pytest.MonkeyPatch):
    """Replace the worker command by a small script, to test the boundary alone."""

    def use(script: str) -> None:
        monkeypatch.setattr(runner, "command_for", lambda req: [sys.executable, "-c", script])

    return use


def _request() -> ChildRequest:
    return ChildRequest(seed=23)


def test_hard_timeout_kills_the_whole_process_group(tmp_path: Path, fake_worker) -> None:
    pidfile = tmp_path / "grandchild.pid"
    fake_worker(
        "import subprocess, sys, time;"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid));"
        "time.sleep(60)"
    )
    outcome = runner.run_child(_request(), tmp_path, BARE, hard_timeout=2, threads=1)
    assert outcome.end is ChildEnd.TIMEOUT
    assert outcome.seconds < 20
    assert not _running(int(pidfile.read_text()))


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.1)
    return True


def test_exit_without_answer_is_a_crash(tmp_path: Path, fake_worker) -> None:
    fake_worker("import os; print('bye'); os._exit(3)")
    outcome = runner.run_child(_request(), tmp_path, BARE, hard_timeout=30, threads=1)
    assert outcome.end is ChildEnd.CRASHED
    assert outcome.returncode == 3
    assert "bye" in outcome.log_tail


def test_partial_answer_survives_a_crash(tmp_path: Path, fake_worker) -> None:
    trial = {
        "id": "0",
        "hyperparameters": {"lr": 0.3},
        "epochs": 1,
        "seconds": 1.0,
        "status": "completed",
    }
    partial = {
        "protocol": 1,
        "status": "running",
        "message": "",
        "stage": "search",
        "trials": [trial],
        "notes": [],
        "timings": {},
    }
    fake_worker(f"import json, os; json.dump({partial!r}, open('response.json', 'w')); os._exit(9)")
    outcome = runner.run_child(_request(), tmp_path, BARE, hard_timeout=30, threads=1)
    assert outcome.end is ChildEnd.CRASHED and outcome.answer_refusal is None
    answer = outcome.answer
    assert answer is not None and answer.status == "running" and answer.stage == "search"
    (read,) = answer.trials
    assert (read.id, dict(read.hyperparameters), read.epochs, read.seconds) == trial_values(trial)


def trial_values(trial: dict) -> tuple:
    return (trial["id"], trial["hyperparameters"], trial["epochs"], trial["seconds"])


@pytest.mark.parametrize("content", [b"", b"not json", b'{"protocol": 1, "status": "ru'])
def test_an_empty_or_unfinished_answer_is_no_answer(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "response.json").write_bytes(content)
    assert runner.read_answer(tmp_path, objective="val_accuracy") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[1, 2]", "the child's answer is a list, not a JSON object"),
        (b'{"protocol": 2, "trials": []}', "the child's answer has protocol = 2"),
    ],
)
def test_an_answer_of_the_wrong_shape_is_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / "response.json").write_bytes(content)
    with pytest.raises(BoundaryError, match=re.escape(message)):
        runner.read_answer(tmp_path, objective="val_accuracy")


def test_oversized_answer_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "response.json"
    path.write_text(json.dumps({"protocol": 1, "trials": [], "pad": "x" * 2000}))
    monkeypatch.setattr(runner, "RESPONSE_LIMIT", 1000)
    with pytest.raises(HostileFile, match="over the grader's cap of 1000 bytes"):
        runner.read_answer(tmp_path, objective="val_accuracy")


def test_an_out_of_range_answer_ends_the_run_with_the_reason(tmp_path: Path, fake_worker) -> None:
    answer = {"protocol": 1, "status": "ok", "stage": "search", "timings": {"search": -3.0}}
    fake_worker(f"import json; json.dump({answer!r}, open('response.json', 'w'))")
    outcome = runner.run_child(_request(), tmp_path, BARE, hard_timeout=30, threads=1)
    assert outcome.answer is None and outcome.end is ChildEnd.CRASHED
    assert outcome.answer_refusal == (
        "the child's answer has timings.search = -3.0; seconds cannot be negative"
    )


def test_a_named_pipe_as_answer_neither_blocks_nor_passes(tmp_path: Path, fake_worker) -> None:
    fake_worker("import os; os.mkfifo('response.json')")
    start = time.monotonic()
    outcome = runner.run_child(_request(), tmp_path, BARE, hard_timeout=30, threads=1)
    assert time.monotonic() - start < 20  # before boundary.read_child_file: blocked forever
    assert outcome.answer is None and outcome.end is ChildEnd.CRASHED
    assert outcome.answer_refusal is not None
    assert "response.json is not a regular file" in outcome.answer_refusal


def test_child_environment_is_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    env = runner.child_env(seed=23, threads=2, home=tmp_path)
    assert "KERASTUNER_TUNER_ID" not in env and "TF_FORCE_GPU_ALLOW_GROWTH" not in env
    assert env["PYTHONHASHSEED"] == "23" and env["HOME"] == str(tmp_path)
    assert env["KERAS_BACKEND"] == "tensorflow" and env["OMP_NUM_THREADS"] == "2"


def test_log_keeps_only_the_tail(tmp_path: Path, fake_worker) -> None:
    fake_worker("print('A' * 100000); print('THE END')")
    outcome = runner.run_child(
        _request(),
        tmp_path,
        Confinement(Sandbox(None), Limits(output_kb=8)),
        hard_timeout=30,
        threads=1,
    )
    assert len(outcome.log_tail) <= 8 * 1024 + 100
    assert outcome.log_tail.rstrip().endswith("THE END")


# --- The parent's per-trial clock over progress.jsonl (grader.limits.TrialClock) ---------


def _line(event: str, trial: int, trials: int = 2, epoch: int = 0, value=None) -> str:
    return ProgressLine(ProgressEvent(event), trial, trials, epoch, 3, value).to_json() + "\n"


def _search_request(trial_seconds: float = 1.0, max_trials: int = 2) -> ChildRequest:
    return ChildRequest(seed=23, budget=SearchBudget(max_trials, 3, trial_seconds))


def _writer(lines: list[str], then: str = "import time; time.sleep(60)") -> str:
    """A fake child that appends `lines` to progress.jsonl, flushed, then does `then`."""
    return (
        f"lines = {lines!r}\n"
        "with open('progress.jsonl', 'a') as f:\n"
        "    for line in lines:\n"
        "        f.write(line); f.flush()\n"
        f"{then}\n"
    )


def test_a_trial_past_its_limit_is_stopped_by_the_parents_clock(
    tmp_path: Path, fake_worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "trial_grace", lambda seconds: 0.5)
    fake_worker(_writer([_line("trial_start", 1), _line("epoch_end", 1, epoch=1, value=0.5)]))
    outcome = runner.run_child(_search_request(), tmp_path, BARE, hard_timeout=30, threads=1)
    assert outcome.end is ChildEnd.TIMEOUT
    assert outcome.seconds < 10  # stopped at 1 s + 0.5 s, long before the hard limit
    overrun = outcome.overrun
    assert overrun is not None and (overrun.trial, overrun.trials) == (1, 2)
    assert 1.5 <= overrun.seconds < 5 and overrun.over == pytest.approx(overrun.seconds - 1)
    assert not overrun.after_last
    en, es = score.overrun_message(overrun, "en"), score.overrun_message(overrun, "es")
    assert en.startswith("Trial 1 of 2 had run") and "over its limit of 1 s" in en
    assert es.startswith("El trial 1 de 2 llevaba")


def test_a_trial_declared_over_still_runs_on_the_clock(
    tmp_path: Path, fake_worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An end line does not stop the clock: the time after it counts for the next trial.
    monkeypatch.setattr(limits, "trial_grace", lambda seconds: 0.5)
    fake_worker(_writer([_line("trial_start", 1), _line("trial_end", 1, value=0.5)]))
    outcome = runner.run_child(_search_request(), tmp_path, BARE, hard_timeout=30, threads=1)
    assert outcome.end is ChildEnd.TIMEOUT and outcome.overrun is not None
    assert outcome.overrun.trial == 2 and not outcome.overrun.after_last
    # After the last trial, the same clock bounds the search's wrap-up.
    monkeypatch.setattr(limits, "trial_grace", lambda seconds: 0.5)
    fake_worker(_writer([_line("trial_start", 1, 1), _line("trial_end", 1, 1)]))
    outcome = runner.run_child(
        _search_request(max_trials=1), tmp_path / "b", BARE, hard_timeout=30, threads=1
    )
    assert outcome.overrun is not None and outcome.overrun.after_last
    assert "After the last trial (1 of 1)" in score.overrun_message(outcome.overrun, "en")


def test_an_honest_child_within_its_limits_finishes(tmp_path: Path, fake_worker) -> None:
    lines = [_line("trial_start", 1), _line("epoch_end", 1, epoch=1, value=0.25)]
    lines += [_line("trial_end", 1, epoch=1, value=0.25), _line("trial_start", 2)]
    lines += [_line("trial_end", 2, value=None)]
    fake_worker(_writer(lines, then="import os; os._exit(0)"))
    outcome = runner.run_child(
        _search_request(trial_seconds=60), tmp_path, BARE, hard_timeout=30, threads=1
    )
    assert outcome.overrun is None and outcome.progress_refusal is None
    assert outcome.end is ChildEnd.CRASHED  # no answer written: only the clock is tested here


def test_a_child_that_writes_no_progress_is_still_bounded_by_the_hard_limit(
    tmp_path: Path, fake_worker
) -> None:
    fake_worker("import time; time.sleep(60)")
    outcome = runner.run_child(_search_request(), tmp_path, BARE, hard_timeout=2, threads=1)
    assert outcome.end is ChildEnd.TIMEOUT and outcome.overrun is None


HOSTILE = {
    # name: (script that makes progress.jsonl hostile, then sleeps; expected refusal)
    "named pipe": ("import os; os.mkfifo('progress.jsonl')", "not_regular"),
    "symlink": ("import os; os.symlink('/etc/passwd', 'progress.jsonl')", "not_regular"),
    "100 MB": (
        "f = open('progress.jsonl', 'wb'); f.truncate(100 * 2**20); f.close()",
        "too_big",
    ),
    # Over the file cap, or caught earlier by the line cap if a poll lands mid-write.
    "one 10 MB line": (
        "f = open('progress.jsonl', 'wb'); f.write(b'x' * 10 * 2**20); f.close()",
        "too_big line_too_long",
    ),
    "one 3 MB line": (
        "f = open('progress.jsonl', 'wb'); f.write(b'x' * 3 * 2**20); f.close()",
        "line_too_long",
    ),
    "one 2 KB line": ("open('progress.jsonl', 'w').write('{' + 'x' * 2048)", "line_too_long"),
    "not a progress line": ("open('progress.jsonl', 'w').write('{\"event\": 1}\\n')", "bad_line"),
    "trial 3 first": (
        f"open('progress.jsonl', 'w').write({_line('trial_start', 3, 4)!r})",
        "out_of_order",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_progress_file_stops_the_child_with_a_reason(
    tmp_path: Path, fake_worker, case: str
) -> None:
    make, reason = HOSTILE[case]
    fake_worker(make + "\nimport time; time.sleep(60)")
    request = _search_request(trial_seconds=60, max_trials=4)
    start = time.monotonic()
    outcome = runner.run_child(request, tmp_path, BARE, hard_timeout=30, threads=1)
    assert time.monotonic() - start < 15, "the parent must neither block nor wait for the limit"
    assert outcome.end is ChildEnd.REFUSED
    refusal = outcome.progress_refusal
    assert refusal is not None and refusal.reason in reason.split()
    assert "progress.jsonl" in refusal.text("en") and "progress.jsonl" in refusal.text("es")


def test_a_bad_line_written_just_before_exit_is_still_refused(tmp_path: Path, fake_worker) -> None:
    fake_worker("open('progress.jsonl', 'w').write('junk\\n'); import os; os._exit(0)")
    outcome = runner.run_child(_search_request(), tmp_path, BARE, hard_timeout=30, threads=1)
    assert outcome.end is ChildEnd.REFUSED
    assert outcome.progress_refusal is not None and outcome.progress_refusal.reason == "bad_line"


def test_the_reader_reads_only_new_complete_lines(tmp_path: Path) -> None:
    reader = limits.ProgressReader(tmp_path)
    assert reader.read() == []  # no file yet
    path = tmp_path / "progress.jsonl"
    first, second = _line("trial_start", 1), _line("epoch_end", 1, epoch=1, value=0.75)
    path.write_text(first + second[:10])
    assert [line.event.value for line in reader.read()] == ["trial_start"]
    with path.open("a") as f:
        f.write(second[10:])
    (line,) = reader.read()
    assert (line.epoch, line.val_accuracy) == (1, 0.75) and reader.latest == line
    assert reader.read() == []
    path.unlink()
    path.write_text(first)  # a new file under the same name
    with pytest.raises(limits.ProgressRefused):
        reader.read()


def test_the_trial_clock_uses_only_its_own_time(tmp_path: Path) -> None:
    now = [100.0]
    clock = limits.TrialClock(tmp_path, trial_seconds=10, max_trials=2, kill=lambda: None,
                              grace=2, clock=lambda: now[0])  # fmt: skip
    path = tmp_path / "progress.jsonl"
    assert not clock.poll()  # nothing started: the clock does not run
    now[0] = 10_000.0
    path.write_text(_line("trial_start", 1))
    assert not clock.poll()  # the trial starts now, whatever time the child may claim
    now[0] += 11.9
    assert not clock.poll()
    now[0] += 0.2
    assert clock.poll() and clock.overrun is not None and clock.overrun.trial == 1


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")
def test_backend_fit_past_every_guard_is_stopped_at_its_declaration(tmp_path: Path) -> None:
    """The corpus case that trains through the unpatched backend fit, under a budget whose
    hard limit is far away: it trains while declaring (the child never trains for the grade),
    so the parent's declaration limit stops it, and says so. (The fallback's per-trial clock:
    test_a_trial_past_its_limit_is_stopped_by_the_parents_clock.)"""
    from grader import spec as spec_module
    from grader.batch import BatchOptions, grade
    from grader.sandbox import resolve
    from grader.settings import Source, choose, prepare

    folder = tmp_path / "spec"
    shutil.copytree(spec_module.ASSIGNMENTS_DIR / "fashion-mnist-polynomial-decay", folder)
    toml = folder / "assignment.toml"
    text = toml.read_text(encoding="utf-8")
    smoke, end = text.index("[budgets.smoke]"), text.index("[budgets.default]")
    toml.write_text(
        text[:smoke] + "[budgets.smoke]\nmax_trials = 1\nmax_epochs = 1\ntrial_seconds = 5\n"
        "submission_seconds = 600\nkill_grace_seconds = 60\n\n" + text[end:],
        encoding="utf-8",
    )
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(CORPUS / "backend_fit_forever.py", submissions)
    start = time.monotonic()
    grade(
        [submissions],
        prepare(
            choose(
                Source(assignment=toml, budget="smoke", cache_dir=tmp_path / "cache", lang="en")
            ),
            sandbox=resolve(no_sandbox=False),
            subset=300,
        ),
        BatchOptions(out=tmp_path / "out", echo=lambda line: None),
    )
    result = json.loads((tmp_path / "out" / "backend_fit_forever" / "result.json").read_text())
    assert result["status"] == "timeout", result["message"]
    assert "to declare its model" in result["message"], result["message"]
    assert result["training"] == "grader"
    assert time.monotonic() - start < 300  # the hard limit was 660 s away


def test_a_caller_must_decide_on_the_sandbox(tmp_path: Path) -> None:
    """Fail closed: starting student code without saying whether it is sandboxed is a
    TypeError, never an unsandboxed child by default."""
    with pytest.raises(TypeError):
        Confinement()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        runner.run_child(_request(), tmp_path, hard_timeout=30, threads=1)  # type: ignore
    with pytest.raises(TypeError):
        runner.start_session(_request(), tmp_path, hard_timeout=30, threads=1)  # type: ignore
    assert not any(tmp_path.iterdir())  # nothing was started
