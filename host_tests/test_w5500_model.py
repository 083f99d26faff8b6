"""The W5500 model's unit tests (host_tests/test_w5500_model.mjs) run by
node:test, so `pytest` runs them with the rest."""

import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def test_w5500_model_against_the_driver_protocol():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the RP2040 emulator's peripheral models run on Node)")
    r = subprocess.run([node, "--test", os.path.join(HERE, "test_w5500_model.mjs")],
                       capture_output=True, text=True, timeout=120)
    summary = [line for line in r.stdout.splitlines() if line.startswith(("# pass", "# fail", "not ok"))]
    assert r.returncode == 0, "\n".join(summary) + "\n" + r.stdout[-3000:]
    assert "# fail 0" in r.stdout
