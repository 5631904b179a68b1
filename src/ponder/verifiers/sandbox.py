"""A sandbox for untrusted Python (HumanEval completions): one fresh process in a fresh temp folder, with limits.

    outcome = run("def f():\\n    return 1\\nassert f() == 1\\n", timeout=5)
    outcome.status    # "pass" | "fail" (an assertion failed) | "timeout" | "error" (anything else)
    outcome.output    # what it printed (stdout and stderr, the tail)

Layers, one behind the other (a program that gets past one meets the next):
- resource limits: CPU time, address space (memory), file size, open files, no core dumps, processes. The
  process limit is RLIMIT_NPROC under a uid of the program's own (as root, when the interpreter is readable by
  others; then nothing of the machine's is writable either), else a pids cgroup where one can be made;
- a new network namespace where the kernel allows it (no interface but a down loopback), with socket
  creation refused in any case;
- an audit hook (PEP 578) installed before the program runs, which refuses: starting processes (os.system,
  subprocess, exec, fork, spawn), sockets, ctypes, and writing, removing or renaming anything outside the
  folder;
- a wall-clock timeout, after which its whole process group is killed; the folder is removed afterwards.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Status = Literal["pass", "fail", "timeout", "error"]
OUTPUT_LIMIT = 8192  # characters of output kept (the tail)


@dataclass(frozen=True)
class Outcome:
    status: Status
    output: str
    exit_code: int | None  # None: killed at the timeout
    isolation: tuple[str, ...] = ()  # the layers that were in force (network namespace, own uid, ...)


def run(code: str, timeout: float = 10.0, memory_mb: int = 1024, max_processes: int = 16,
        max_file_mb: int = 16, audit_hook: bool = True) -> Outcome:
    """Run `code` as a Python program in the sandbox; see the module docstring. (`audit_hook=False` leaves that
    layer out, only so that tests can show the others hold on their own.)"""
    folder = tempfile.mkdtemp(prefix="ponder-sandbox-")
    uid = 20000 + int.from_bytes(os.urandom(4), "little") % 40000 if _can_drop_root() else None  # no one's
    try:
        os.chmod(folder, 0o700)
        if uid is not None:
            os.chown(folder, uid, uid)
        path = os.path.join(folder, "program.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(code)
        if uid is not None:
            os.chown(path, uid, uid)
        group = _pids_group(max_processes) if uid is None else None  # root keeping its uid: the limit from a cgroup
        limits = dict(folder=folder, cpu=max(1, int(timeout + 1)), memory=memory_mb << 20, files=max_file_mb << 20,
                      processes=max_processes, uid=uid, group=str(group) if group else None, hook=audit_hook)
        env = {"PATH": "/usr/bin:/bin", "HOME": folder, "TMPDIR": folder, "PYTHONHASHSEED": "0",
               "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
        process = subprocess.Popen([sys.executable, "-I", "-c", _BOOTSTRAP, json.dumps(limits), path], cwd=folder,
                                   env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=timeout)
            exit_code = process.returncode
        except subprocess.TimeoutExpired:
            _kill(process.pid, uid, group)
            output, _ = process.communicate()
            exit_code = None
        finally:
            _kill(process.pid, uid, group)  # anything it left behind
            if group is not None:
                _remove_group(group)
        text = output.decode("utf-8", "replace")
        isolation, text = _isolation(text)
        return Outcome(_status(exit_code, text), text[-OUTPUT_LIMIT:], exit_code, isolation)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@functools.cache
def _can_drop_root() -> bool:
    """Whether we are root and another uid could still run this interpreter: its standard library readable by
    all (under a 0700 /root, as with pyenv's default, it is not, and the program could import nothing)."""
    if os.geteuid() != 0:
        return False
    path = os.path.dirname(os.__file__)
    while path not in ("/", ""):
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
        path = os.path.dirname(path)
    return True


def _status(exit_code: int | None, output: str) -> Status:
    if exit_code is None or exit_code in (-signal.SIGXCPU, -signal.SIGKILL):
        return "timeout"
    if exit_code == 0:
        return "pass"
    last = output.strip().rsplit("\n", 1)[-1]
    return "fail" if last.startswith("AssertionError") else "error"


def _isolation(text: str) -> tuple[tuple[str, ...], str]:
    first, _, rest = text.partition("\n")
    if first.startswith("ponder-sandbox:"):
        return tuple(first.split(":", 1)[1].split(",")), rest
    return (), text


def _kill(pid: int, uid: int | None, group: Path | None) -> None:
    """Kill the program's process group, and every process still running under its own uid or in its cgroup."""
    pids = set()
    if uid is not None:
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.add(int(entry))
            except FileNotFoundError:
                pass
    if group is not None:
        pids.update(int(p) for p in (group / "cgroup.procs").read_text().split())
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for other in pids:
        try:
            os.kill(other, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _pids_group(limit: int) -> Path | None:
    """A fresh cgroup capped at `limit` tasks (the v1 pids controller, or v2 where it is enabled), where this
    process may make one; None where it may not."""
    for root in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if not (root / "cgroup.procs").exists():
            continue
        group = root / f"ponder-sandbox-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            group.mkdir()
        except OSError:
            continue
        try:
            (group / "pids.max").write_text(str(limit))
            return group
        except OSError:  # no pids controller in this hierarchy
            group.rmdir()
    return None


def _remove_group(group: Path) -> None:
    for _ in range(50):  # the killed processes leave it within milliseconds
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.01)


# Runs in the sandboxed interpreter (python -I): isolates itself, then runs the program.
_BOOTSTRAP = r'''
import json, os, resource, sys
limits, path = json.loads(sys.argv[1]), sys.argv[2]
folder = os.path.realpath(limits["folder"])
layers = []
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
if libc.unshare(CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET) == 0:
    layers.append("network-namespace")
del libc, ctypes
for name in [m for m in sys.modules if m == "ctypes" or m.startswith(("ctypes.", "_ctypes"))]:
    del sys.modules[name]
for limit, value in ((resource.RLIMIT_CPU, limits["cpu"]), (resource.RLIMIT_AS, limits["memory"]),
                     (resource.RLIMIT_FSIZE, limits["files"]), (resource.RLIMIT_NOFILE, 64),
                     (resource.RLIMIT_CORE, 0)):
    resource.setrlimit(limit, (value, value))
if limits["group"] is not None:
    with open(os.path.join(limits["group"], "cgroup.procs"), "w") as procs:
        procs.write(str(os.getpid()))
    layers.append("pids-cgroup")
if limits["uid"] is not None:
    os.setgroups([])
    os.setgid(limits["uid"])
    os.setuid(limits["uid"])
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    layers.append("own-uid")
if limits["hook"]:
    layers.append("audit-hook")

def inside(target):
    try:
        target = os.fsdecode(target) if not isinstance(target, int) else None
    except TypeError:
        return False
    return target is not None and os.path.realpath(target).startswith(folder + os.sep)

REFUSED = ("os.system", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "subprocess.Popen",
           "pty.spawn", "os.kill", "os.killpg", "socket.__new__", "socket.connect", "socket.bind",
           "socket.getaddrinfo", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "os.chroot", "os.setuid",
           "resource.setrlimit", "sys.addaudithook", "os.putenv", "os.unsetenv")
CHANGES = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink", "os.link",
           "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move")

def guard(event, args):
    if event in REFUSED or event == "import" and args[0] in ("ctypes", "_ctypes"):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "open" and args[1] is not None and any(c in str(args[1]) for c in "wax+") \
            and not inside(args[0]):
        raise PermissionError(f"sandbox: writing {args[0]!r} outside the sandbox folder is not allowed")
    if event == "open" and isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) \
            and not inside(args[0]):
        raise PermissionError(f"sandbox: writing {args[0]!r} outside the sandbox folder is not allowed")
    if event in CHANGES and not all(inside(a) for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))):
        raise PermissionError(f"sandbox: {event} outside the sandbox folder is not allowed")

print("ponder-sandbox:" + ",".join(layers), flush=True)
source = open(path, encoding="utf-8").read()
if limits["hook"]:
    sys.addaudithook(guard)
sys.argv = [path]
del json, resource, limits, layers
exec(compile(source, path, "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
'''
