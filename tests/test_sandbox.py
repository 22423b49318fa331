"""The sandbox and the limits, proved from inside: small Python programs run in bubblewrap.

These run plain `python -c` programs (no TensorFlow) through the same wrapping and
limits the grader uses, so each takes about a second. The end-to-end behaviour on
real hostile submissions is in tests/test_corpus.py.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader import data, runner, sandbox
from grader.child.protocol import ChildRequest
from grader.errors import UsageError
from grader.limits import Limits
from grader.runner import ChildEnd

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")


@pytest.fixture
def cage(tmp_path: Path) -> sandbox.Sandbox:
    return sandbox.resolve(no_sandbox=False)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A stand-in for the test set: a folder the child must not see."""
    folder = tmp_path / "cache" / "test"
    folder.mkdir(parents=True)
    (folder / "labels.npy").write_bytes(b"secret labels")
    return folder


def run_inside(
    cage: sandbox.Sandbox, scratch: Path, code: str, *, readable: list[Path] | None = None
) -> subprocess.CompletedProcess[str]:
    scratch.mkdir(parents=True, exist_ok=True)
    env = runner.child_env(seed=23, threads=1, home=scratch)
    command = cage.wrap(
        [sys.executable, "-c", textwrap.dedent(code)],
        scratch=scratch,
        readable=readable or [],
        env=env,
        hidden=[data.DEBIAN_DIR],
    )
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_refuses_to_run_without_bubblewrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(UsageError) as info:
        sandbox.resolve(no_sandbox=False)
    assert "--no-sandbox" in info.value.format() and "apt-get install bubblewrap" in (
        info.value.format()
    )
    assert not sandbox.resolve(no_sandbox=True).enabled


def test_test_set_cannot_be_read(cage: sandbox.Sandbox, tmp_path: Path, secret: Path) -> None:
    done = run_inside(
        cage,
        tmp_path / "scratch",
        f"""
        import glob, os
        paths = [{str(secret / "labels.npy")!r}] + glob.glob("/usr/share/datasets/*/*")
        for path in paths:
            try:
                open(path, "rb").read()
                print("READ", path)
            except OSError as exc:
                print("DENIED", path, type(exc).__name__)
        print("debian dir entries:", os.listdir("/usr/share/datasets/fashion-mnist")
              if os.path.isdir("/usr/share/datasets/fashion-mnist") else None)
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "READ" not in done.stdout
    assert "DENIED" in done.stdout
    assert "t10k" not in done.stdout


def test_training_data_is_readable_but_not_writable(cage: sandbox.Sandbox, tmp_path: Path) -> None:
    trainval = tmp_path / "cache" / "trainval"
    trainval.mkdir(parents=True)
    (trainval / "images.npy").write_bytes(b"train")
    done = run_inside(
        cage,
        tmp_path / "scratch",
        f"""
        print(open({str(trainval / "images.npy")!r}, "rb").read())
        try:
            open({str(trainval / "images.npy")!r}, "wb")
            print("WROTE")
        except OSError:
            print("READ-ONLY")
        """,
        readable=[trainval],
    )
    assert done.returncode == 0, done.stderr
    assert "b'train'" in done.stdout and "READ-ONLY" in done.stdout


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_host_loopback_is_unreachable(cage: sandbox.Sandbox, tmp_path: Path, listener: int) -> None:
    # The listener is reachable from the host itself...
    socket.create_connection(("127.0.0.1", listener), timeout=2).close()
    done = run_inside(
        cage,
        tmp_path / "scratch",
        f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {listener}), timeout=2)
            print("CONNECTED")
        except OSError as exc:
            print("REFUSED", type(exc).__name__)
        """,
    )
    # ...but not from the sandbox, which has a network namespace of its own.
    assert done.returncode == 0, done.stderr
    assert "REFUSED" in done.stdout and "CONNECTED" not in done.stdout


def test_writes_outside_scratch_fail(cage: sandbox.Sandbox, tmp_path: Path) -> None:
    package = Path(sandbox.__file__).resolve().parent
    scratch = tmp_path / "scratch"
    targets = [
        package / "pwned.txt",
        tmp_path / "pwned.txt",
        Path("/tmp/pwned.txt"),
        Path("/etc/pwned.txt"),
        Path("/usr/pwned.txt"),
        Path(sys.prefix) / "pwned.txt",
    ]
    done = run_inside(
        cage,
        scratch,
        f"""
        for target in {[str(t) for t in targets]!r}:
            try:
                open(target, "w").write("x")
                print("WROTE", target)
            except OSError:
                print("DENIED", target)
        open("inside.txt", "w").write("ok")
        print("SCRATCH OK")
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "WROTE" not in done.stdout
    assert done.stdout.count("DENIED") == len(targets)
    assert (scratch / "inside.txt").read_text() == "ok"
    assert not any(t.exists() for t in targets if t != Path("/tmp/pwned.txt"))


def test_environment_is_scrubbed(
    cage: sandbox.Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    monkeypatch.setenv("GRADER_SECRET", "s3cret")
    done = run_inside(
        cage, tmp_path / "scratch", "import json, os; print(json.dumps(dict(os.environ)))"
    )
    env = json.loads(done.stdout)
    assert "KERASTUNER_TUNER_ID" not in env and "GRADER_SECRET" not in env
    assert env["HOME"] == str(tmp_path / "scratch") and env["PYTHONHASHSEED"] == "23"


# --- limits, through runner.run_child with a small program instead of the worker -----


@pytest.fixture
def program(monkeypatch: pytest.MonkeyPatch):
    def use(code: str) -> None:
        monkeypatch.setattr(
            runner, "command_for", lambda req: [sys.executable, "-c", textwrap.dedent(code)]
        )

    return use


def _run(cage: sandbox.Sandbox, tmp_path: Path, limits: Limits, timeout: float = 60):
    return runner.run_child(
        ChildRequest(seed=23),
        tmp_path / "scratch",
        runner.Confinement(cage, limits),
        hard_timeout=timeout,
        threads=1,
    )


def test_memory_bomb_is_stopped_at_the_limit(cage, tmp_path: Path, program) -> None:
    program(
        """
        blocks = []
        while True:
            blocks.append(bytearray(64 * 2**20))
            blocks[-1][::4096] = b"x" * len(blocks[-1][::4096])
        """
    )
    outcome = _run(cage, tmp_path, Limits(memory_mb=300))
    assert outcome.end is ChildEnd.RESOURCE_LIMIT
    assert outcome.breach is not None and outcome.breach.limit == "memory"
    assert 300 < outcome.breach.observed < 300 * 1.25 + 200
    assert "memory" in outcome.breach.describe() and "300 MB" in outcome.breach.describe()


def test_fork_bomb_is_stopped(cage, tmp_path: Path, program) -> None:
    program(
        """
        import os, time
        while True:
            try:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
            except OSError:
                time.sleep(0.01)
        """
    )
    outcome = _run(cage, tmp_path, Limits(processes=10))
    assert outcome.end is ChildEnd.RESOURCE_LIMIT
    assert outcome.breach is not None and outcome.breach.limit == "processes"
    assert outcome.seconds < 30


def test_scratch_disk_limit(cage, tmp_path: Path, program) -> None:
    program(
        """
        import time
        with open("big.bin", "wb") as f:
            for _ in range(400):
                f.write(b"x" * 2**20)
                f.flush()
        time.sleep(30)
        """
    )
    outcome = _run(cage, tmp_path, Limits(scratch_mb=50))
    assert outcome.end is ChildEnd.RESOURCE_LIMIT
    assert outcome.breach is not None and outcome.breach.limit == "scratch"


def test_output_flood_is_truncated_not_fatal(cage, tmp_path: Path, program) -> None:
    program(
        """
        import sys
        print("FIRST LINE")
        for _ in range(100):
            sys.stdout.write("y" * 50000 + "\\n")
        print("LAST LINE")
        """
    )
    outcome = _run(cage, tmp_path, Limits(output_kb=16))
    assert outcome.end is ChildEnd.CRASHED  # no answer written: it is not the worker
    assert outcome.output_bytes > 5_000_000
    assert len(outcome.log_tail) < 20 * 1024
    assert "FIRST LINE" in outcome.log_tail and "LAST LINE" in outcome.log_tail
    assert "bytes of output omitted" in outcome.log_tail


def test_forged_answer_of_the_wrong_shape_is_ignored(cage, tmp_path: Path, program) -> None:
    program(
        """
        import json
        json.dump({"protocol": 1, "status": "ok", "score": 10, "trials": "all passed"},
                  open("response.json", "w"))
        """
    )
    outcome = _run(cage, tmp_path, Limits())
    assert outcome.answer is None
    assert outcome.end is ChildEnd.CRASHED
