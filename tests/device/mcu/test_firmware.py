"""The firmware's own unit tests, run by real MicroPython (the WebAssembly port under Node).

micropython-lib's unittest prints its results but sets no exit status, so run_unittest.mjs
turns them into one, and each module here is a pytest case that fails when any of its
MicroPython tests fail (or when none ran).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from device.drivers.sim.ioboard_sim import FIRMWARE_DIR, ROOT, simulator_available

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "run_unittest.mjs"
MODULES = sorted(p.stem for p in (HERE / "fw").glob("test_*.py"))


def run_firmware_tests(tests_dir: Path, *modules: str) -> subprocess.CompletedProcess[str]:
    """Run MicroPython unittest modules against device/mcu; returns the finished process."""
    missing = simulator_available()
    if missing:
        pytest.fail(f"MicroPython WebAssembly port unavailable: {missing}")
    return subprocess.run(
        ["node", str(RUNNER), str(FIRMWARE_DIR), str(tests_dir), *modules],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip


@pytest.mark.parametrize("module", MODULES)
def test_firmware_module_passes_under_micropython(module: str) -> None:
    proc = run_firmware_tests(HERE / "fw", module)
    sys.stdout.write(proc.stdout)
    assert proc.returncode == 0, f"MicroPython tests failed:\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.rstrip().splitlines()[-1].endswith(" 0 failed")


def test_a_failing_firmware_test_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "test_broken.py").write_text(
        "import unittest\nimport frames\n\n"
        "class Broken(unittest.TestCase):\n"
        "    def test_wrong_check_value(self):\n"
        "        self.assertEqual(frames.crc16(b'123456789'), 0x1234)\n"
        "    def test_fine(self):\n"
        "        self.assertTrue(True)\n"
    )
    proc = run_firmware_tests(tmp_path, "test_broken")
    assert proc.returncode == 1
    assert proc.stdout.rstrip().splitlines()[-1] == "1 passed, 1 failed"


def test_a_module_that_does_not_import_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "test_typo.py").write_text("import unittest\nimport no_such_firmware_module\n")
    proc = run_firmware_tests(tmp_path, "test_typo")
    assert proc.returncode == 1
    assert "could not run" in proc.stdout


def test_unittest_is_micropython_libs() -> None:
    # The port freezes micropython-lib's unittest; CPython's would not run on the board.
    (out,) = [
        line
        for line in subprocess.run(
            ["node", "-e", (
                "import('@micropython/micropython-webassembly-pyscript').then(async m => {"
                " const mp = await m.loadMicroPython({stdout: l => console.log(l)});"
                " mp.runPython('import sys, unittest; print(sys.implementation.name,"
                " unittest.__version__)'); })"
            )],
            capture_output=True, text=True, timeout=120, cwd=ROOT, check=True,
        ).stdout.splitlines()
        if line.startswith("micropython")
    ]  # fmt: skip
    assert out.split()[1][0].isdigit()
