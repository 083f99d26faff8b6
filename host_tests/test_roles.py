# Roles installable alone: the server's files without the client's, the
# client's without the server's (manifests/dora-*/manifest.py, package-*.json),
# each imported and used on MicroPython from its own files only: the 64-bit
# unix port from .py sources, the 32-bit one (31-bit small ints, like the
# boards) from .mpy files built for it.

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import board  # noqa: E402
import package_json  # noqa: E402

# Each role used a little: the server answers a DISCOVER, the client builds one.
USE = {
    "server": """
from dora import runner, admin
from dora import dhcp as D
r = runner.Runner({"address": "192.168.4.1", "pool_start": "192.168.4.16", "pool_end": "192.168.4.20",
                   "lease_file": None, "log": False}, log=print)
req = bytearray(300)
req[0] = 1; req[1] = 1; req[2] = 6
req[28:34] = b"\\x02\\x00\\x00\\x00\\x00\\x01"
req[236:240] = b"\\x63\\x82\\x53\\x63"
req[240:244] = b"\\x35\\x01\\x01\\xff"
n = r.server.handle(req, len(req), 1, r.outs[0])
assert n > 0 and r.server.event == 1, (n, r.server.event)
print("USED", admin.describe(r, r.server.event, r.server.event_slot))
""",
    "client": """
from dora import client_runner
c = client_runner.ClientRunner({"mac": "02:00:00:00:00:01", "lease_file": None, "log": False})
c.client.start(1)
n = c.client.tick(1, c.out)
assert n >= 300 and c.out[242] == 1, n
print("USED", c.state())
""",
}
OTHER = {"server": "dora.client_runner", "client": "dora.runner"}


def role_files(role):
    return {t for t, _ in package_json.package_json(role)["urls"]}


def test_role_package_files_are_in_step_with_their_manifests():
    for role, (_, name) in package_json.ROLES.items():
        with open(os.path.join(ROOT, name)) as f:
            assert f.read() == package_json.text(role), "%s is stale: run `make package.json`" % name


def test_the_roles_share_only_the_common_package_and_together_make_both():
    server, client, both = role_files("server"), role_files("client"), role_files("both")
    common = {t for t, _ in package_json.read_manifest(
        os.path.join(ROOT, "manifests", "dora-common", "manifest.py"))["files"]}
    assert server & client == common
    assert server | client | {"dora_board.py"} == both
    assert "dora/client_runner.py" not in server and "dora/runner.py" not in client


def _copy_role(role, dst):
    for target, src in package_json.package_json(role)["urls"]:
        os.makedirs(os.path.dirname(os.path.join(dst, target)) or dst, exist_ok=True)
        shutil.copy(os.path.join(ROOT, src), os.path.join(dst, target))


def _run(mp, path, code):
    env = dict(os.environ, MICROPYPATH="%s:.frozen" % path)
    return subprocess.run([mp, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def _check_alone(mp, path, role):
    r = _run(mp, path, USE[role])
    assert r.returncode == 0 and "USED" in r.stdout, (role, r.stdout, r.stderr)
    r = _run(mp, path, "import %s" % OTHER[role])
    assert r.returncode != 0 and "ImportError" in r.stdout + r.stderr, (role, r.stdout, r.stderr)


@pytest.mark.parametrize("role", ["server", "client"])
def test_a_role_runs_from_its_own_sources_on_micropython(tmp_path, role):
    mp = board.tool("micropython")
    _copy_role(role, str(tmp_path))
    _check_alone(mp, str(tmp_path), role)


@pytest.mark.parametrize("role", ["server", "client"])
def test_a_role_runs_from_its_own_mpy_files_on_the_32bit_port(tmp_path, role):
    try:
        mp32 = board.built("MP32")
    except board.NoSource as e:
        pytest.skip("32-bit unix port: %s" % e)
    mpy_cross = os.getenv("KIT_MPY_CROSS") or board.tool("mpy-cross")
    board.compile_mpy(str(tmp_path), "x86", mpy_cross, role)
    assert sorted(os.listdir(tmp_path / "dora")) == sorted(
        t[5:-3] + ".mpy" for t in role_files(role) if t.startswith("dora/"))
    _check_alone(mp32, str(tmp_path), role)


def test_micropythons_own_manifest_reader_finds_the_same_files():
    """The manifests as MicroPython's build reads them (tools/manifestfile.py
    of the MicroPython source: require/add_library as micropython-lib uses
    them) name the files package_json.py lists, in freeze and compile mode."""
    try:
        src = board.micropy_source()
    except board.NoSource as e:
        pytest.skip("MicroPython source: %s" % e)
    if not os.path.exists(os.path.join(src, "tools", "manifestfile.py")):
        pytest.skip("MicroPython source not extracted at %s (make kit)" % src)
    sys.path.insert(0, os.path.join(src, "tools"))
    import manifestfile

    for role, (manifest, _) in package_json.ROLES.items():
        for mode in (manifestfile.MODE_FREEZE, manifestfile.MODE_COMPILE):
            mf = manifestfile.ManifestFile(mode, {"MPY_DIR": src, "MPY_LIB_DIR": src, "PORT_DIR": src, "BOARD_DIR": src})
            mf.execute(os.path.join(ROOT, manifest))
            assert sorted(f.target_path for f in mf.files()) == sorted(role_files(role)), (role, mode)
            assert mf.metadata().version == package_json.package_json(role)["version"]
