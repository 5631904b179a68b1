"""The sandbox contains what an untrusted program may try, each returning a failure with the machine unharmed."""

import os
import time

import pytest

from ponder.verifiers.sandbox import run


def leftovers(marker: str) -> list[int]:
    """Processes still running whose command line holds `marker`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_a_passing_and_a_failing_program():
    assert run("assert sum([1, 2]) == 3\nprint('fine')").status == "pass"
    outcome = run("def f(x):\n    return x\nassert f(2) == 3, 'f is wrong'\n")
    assert outcome.status == "fail" and "f is wrong" in outcome.output and outcome.exit_code == 1
    assert run("def f(:\n").status == "error"


def test_an_infinite_loop_is_killed_at_the_timeout():
    started = time.monotonic()
    outcome = run("# loop-marker\nwhile True:\n    pass\n", timeout=2)
    assert outcome.status == "timeout" and time.monotonic() - started < 10
    assert leftovers("loop-marker") == []


def test_a_fork_bomb_is_contained():
    outcome = run("import os\n# fork-marker\nwhile True:\n    os.fork()\n", timeout=5)
    assert outcome.status in ("error", "timeout")
    assert leftovers("fork-marker") == []


def test_a_10_gb_allocation_fails():
    outcome = run("x = bytearray(10 * 1024 ** 3)\nprint('allocated')\n", memory_mb=512)
    assert outcome.status == "error" and "MemoryError" in outcome.output and "allocated" not in outcome.output


def test_a_write_outside_its_folder_fails(tmp_path):
    target = tmp_path / "pwned.txt"
    for code in (f"open({str(target)!r}, 'w').write('x')",
                 f"import os\nos.close(os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT))",
                 f"import pathlib\npathlib.Path({str(target)!r}).write_text('x')"):
        outcome = run(code)
        assert outcome.status == "error" and "not allowed" in outcome.output
    assert not target.exists()
    # its own folder is its to use
    assert run("open('scratch.txt', 'w').write('x')\nassert open('scratch.txt').read() == 'x'\n").status == "pass"


def test_a_socket_connection_fails():
    outcome = run("import socket\ns = socket.socket()\ns.settimeout(3)\ns.connect(('127.0.0.1', 22))\n")
    assert outcome.status == "error" and "not allowed" in outcome.output


def test_the_network_namespace_has_no_interface_but_loopback():
    outcome = run("print(open('/proc/self/net/dev').read())")
    if "network-namespace" not in outcome.isolation:
        pytest.skip("this kernel refuses a new network namespace here (socket creation is refused instead)")
    interfaces = [line.split(":")[0].strip() for line in outcome.output.splitlines()[2:] if ":" in line]
    assert interfaces == ["lo"]


def test_a_shell_command_fails(tmp_path):
    target = tmp_path / "from-shell.txt"
    for code in (f"import os\nos.system('touch {target}')",
                 f"import subprocess\nsubprocess.run(['touch', '{target}'])",
                 "import ctypes\nctypes.CDLL(None).system(b'true')"):
        outcome = run(code)
        assert outcome.status == "error" and "not allowed" in outcome.output, code
    assert not target.exists()


def test_output_is_captured_and_the_folder_removed():
    outcome = run("import os\nprint('x' * 20000)\nprint(os.getcwd())")
    folder = outcome.output.splitlines()[-1]  # the tail of the output is kept
    assert folder.startswith("/") and "ponder-sandbox-" in folder and not os.path.exists(folder)
    assert len(outcome.output) <= 8192


def test_the_process_limit_holds_on_its_own():
    layers = run("pass").isolation
    if "own-uid" not in layers and "pids-cgroup" not in layers:
        pytest.skip(f"no process limit here beyond the audit hook (layers: {layers})")
    code = "import os\n# bomb-marker\nfor _ in range(1000):\n    os.fork()\n"
    outcome = run(code, timeout=10, max_processes=8, audit_hook=False)
    assert outcome.status == "error" and "BlockingIOError" in outcome.output
    assert leftovers("bomb-marker") == []
