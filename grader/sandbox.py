"""The sandbox every run of student code goes through: bubblewrap, no network.

The child sees a read-only system (/usr, the Python installation, the venv and the
grader package), the training/validation arrays read-only, a private writable scratch
folder, and nothing else: not the test set (images or labels), not the grader's output
folder or caches, not other students' submissions. It has its own network namespace
(so not even the host's loopback), its own PID namespace, and runs as an unprivileged
user. The environment is rebuilt from scratch (`--clearenv`), so no `KERASTUNER_*` or
other variable of the grader's leaks in.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError

# Files under /etc that the dynamic loader, Python and fontconfig (matplotlib) read.
_ETC = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/fonts",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
)
_MERGED_USR = ("/bin", "/lib", "/lib32", "/lib64", "/sbin", "/libx32")
NOBODY = 65534


@dataclass(frozen=True)
class Sandbox:
    """How to wrap a command; `bwrap` is None when running without a sandbox."""

    bwrap: str | None

    @property
    def enabled(self) -> bool:
        return self.bwrap is not None

    def wrap(
        self,
        command: Sequence[str],
        *,
        scratch: Path,
        readable: Iterable[Path],
        env: Mapping[str, str],
        hidden: Iterable[Path] = (),
    ) -> list[str]:
        """The command to run: `command` inside bubblewrap, or unchanged without it.

        `hidden` paths are covered by an empty folder (or /dev/null for a file) when they
        lie inside something bound read-only, e.g. Debian's copy of the dataset under /usr.
        """
        if self.bwrap is None:
            return list(command)
        args = [
            self.bwrap,
            "--unshare-all",  # network, PID, IPC, UTS, cgroup and user namespaces
            "--die-with-parent",
            "--new-session",
            "--uid", str(NOBODY),
            "--gid", str(NOBODY),
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
        ]  # fmt: skip
        for path in _MERGED_USR:
            link = Path(path)
            if link.is_symlink():
                args += ["--symlink", str(link.readlink()), path]
            elif link.is_dir():
                args += ["--ro-bind", path, path]
        for path in _ETC:
            if Path(path).exists():
                args += ["--ro-bind", path, path]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for path in _python_roots():
            args += ["--ro-bind", str(path), str(path)]
        roots = [Path("/usr"), *_python_roots(), *map(Path, readable)]
        for path in readable:
            args += ["--ro-bind", str(path), str(path)]
        for path in hidden:
            if path.exists() and any(path.is_relative_to(root) for root in roots):
                args += (
                    ["--tmpfs", str(path)]
                    if path.is_dir()
                    else ["--ro-bind", "/dev/null", str(path)]
                )
        # The scratch folder is bound last so no read-only bind above can hide it; the
        # sandbox's own root and /tmp are then made read-only, so /etc, /root, /tmp take no
        # writes either (TMPDIR points into the scratch folder).
        args += ["--bind", str(scratch), str(scratch), "--remount-ro", "/tmp", "--remount-ro", "/"]
        args += ["--chdir", str(scratch), "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        return [*args, "--", *command]


def _python_roots() -> list[Path]:
    """The interpreter, the venv and the grader package: all read-only."""
    package = Path(__file__).resolve().parent
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix), package}
    return sorted(roots)


def resolve(*, no_sandbox: bool) -> Sandbox:
    """The sandbox to use, or a clear refusal when bubblewrap is missing.

    Grading untrusted code without isolation must be a deliberate choice.
    """
    if no_sandbox:
        return Sandbox(None)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise UsageError(
            "bubblewrap (bwrap) is not installed, and the grader will not run student code "
            "without a sandbox",
            hint="install it with `apt-get install bubblewrap` (make grade does), or pass "
            "--no-sandbox to grade trusted code without isolation",
        )
    return Sandbox(bwrap)
