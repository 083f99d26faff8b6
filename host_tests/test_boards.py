# Board bring-up (boards/common/dora_board.py) against the host-only fake of
# `network`, `machine` and the dora_hook C module (boards/fake), on CPython
# and on the MicroPython unix port; the board tooling's dry runs and errors;
# package.json in step with manifest.py.
#
# The real server runs (bound to 127.0.0.1 on a high port, for one second,
# with no client: nothing is sent anywhere).

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE = os.path.join(ROOT, "boards", "fake")
COMMON = os.path.join(ROOT, "boards", "common")


def board_config(kind, tmp_path, port, **dora):
    d = {
        "server_port": port, "client_port": port + 1, "bind_address": "127.0.0.1",
        "run_seconds": 1, "lease_file": str(tmp_path / "leases.dat"), "log": False,
    }
    d.update(dora)
    if kind == "ethernet":
        return {"lan": {"type": "W5500", "address": "10.42.0.1"}, "dora": d, "watchdog_ms": 2000}
    return {"ap": {"ssid": "dora-test", "password": "secret-pass-1"}, "dora": d, "watchdog_ms": 2000, "led": "LED"}


@pytest.fixture
def fakes(monkeypatch):
    """Import the fakes as `network`, `machine`, `dora_hook`, and record the
    moment dora's server socket is bound."""
    monkeypatch.syspath_prepend(FAKE)
    monkeypatch.syspath_prepend(COMMON)
    for m in ("network", "machine", "dora_hook", "dora_board"):
        sys.modules.pop(m, None)
    import dora_board
    import dora_hook
    import machine
    import network
    from dora import compat

    network.CALLS.clear()
    real = compat.udp_socket

    def recording(port, ifname=None, ip="0.0.0.0"):
        network.CALLS.append(("dora.bind", (ip, port, ifname)))
        return real(port, ifname, ip)

    monkeypatch.setattr(compat, "udp_socket", recording)
    yield network, machine, dora_hook, dora_board
    for m in ("network", "machine", "dora_hook", "dora_board"):
        sys.modules.pop(m, None)


def names(calls):
    return [c[0] for c in calls]


def free_port():
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p if p < 65000 else 40000


@pytest.mark.parametrize("kind", ["esp32", "rp2"])
def test_wifi_bring_up_order(fakes, tmp_path, kind):
    network, machine, hook, dora_board = fakes
    if kind == "rp2":
        del network.WLAN.SEC_WPA2  # the Pico W's driver has no such constant
    try:
        b = board_config(kind, tmp_path, free_port(), interface=None)
        dora_board.run(network, machine, hook, kind, board=b, log=lambda line: None, rounds=1)
    finally:
        network.WLAN.SEC_WPA2 = 3
    seq = names(network.CALLS)
    # AP configured and up with its address, then the built-in server
    # stopped, and only then dora's socket bound.
    order = [seq.index(x) for x in ("AP.config", "AP.active", "AP.ifconfig", "dora_hook.stop_builtin_dhcp", "dora.bind")]
    assert order == sorted(order), seq
    cfg = dict(network.CALLS)["AP.config"]
    assert cfg["ssid"] == "dora-test" and cfg["key"] == "secret-pass-1"
    assert cfg["security"] == (3 if kind == "esp32" else network.WLAN.SEC_WPA_WPA2)
    assert ("max_clients" in cfg) == (kind == "esp32")
    assert dict(network.CALLS)["AP.ifconfig"] == ("192.168.4.1", "255.255.255.0", "192.168.4.1", "192.168.4.1")
    assert "WDT" in seq and "WDT.feed" in seq and "Pin.value" in seq
    assert "reset" not in seq


def test_replies_leave_by_the_ap_on_each_board(fakes, tmp_path):
    network, machine, hook, dora_board = fakes
    b = dora_board.check({"ap": {"ssid": "x"}}, "esp32")
    ap = network.WLAN(network.AP_IF)
    # ESP32: dora's socket is bound to the AP's lwIP interface.
    assert dora_board.server_config(b, "esp32", ap)["interface"] == "ap1"
    # Pico W: no SO_BINDTODEVICE; replies go to the AP's directed broadcast.
    cfg = dora_board.server_config(dora_board.check({"ap": {"ssid": "x", "address": "10.9.8.1"}}, "rp2"), "rp2", ap)
    assert cfg["broadcast"] == "10.9.8.255" and "interface" not in cfg
    assert cfg["pool_start"] == "10.9.8.16" and cfg["pool_end"] == "10.9.8.250"


def test_ethernet_needs_no_hook(fakes, tmp_path):
    network, machine, hook, dora_board = fakes
    b = board_config("ethernet", tmp_path, free_port())
    dora_board.run(network, machine, None, "ethernet", board=b, log=lambda line: None, rounds=1)
    seq = names(network.CALLS)
    assert seq.index("WIZNET5K()") < seq.index("WIZNET5K.active") < seq.index("WIZNET5K.ifconfig") < seq.index("dora.bind")
    assert "dora_hook.stop_builtin_dhcp" not in seq


def test_a_crashing_server_is_restarted_then_the_board_reset(fakes, tmp_path, monkeypatch):
    network, machine, hook, dora_board = fakes
    from dora import runner

    async def broken(cfg):
        raise OSError(12)

    monkeypatch.setattr(runner, "serve", broken)
    lines = []
    b = board_config("esp32", tmp_path, free_port(), interface=None)
    with pytest.raises(machine.ResetCalled):
        dora_board.run(network, machine, hook, "esp32", board=b, log=lines.append)
    seq = names(network.CALLS)
    assert seq.count("dora_hook.stop_builtin_dhcp") == 1 + dora_board.MAX_FAILURES - 1
    assert seq[-1] == "reset"
    assert sum("dora stopped" in ln for ln in lines) == dora_board.MAX_FAILURES


def test_upstream_sta_joins(fakes, tmp_path):
    network, machine, hook, dora_board = fakes
    b = board_config("esp32", tmp_path, free_port(), interface=None)
    b["upstream"] = {"ssid": "uplink", "password": "pw"}
    dora_board.run(network, machine, hook, "esp32", board=b, log=lambda line: None, rounds=1)
    assert ("STA.connect", "uplink") in network.CALLS


def test_pico_w_upstream_allowed_when_restricted(fakes):
    _, _, _, dora_board = fakes
    b = dora_board.check({"upstream": {"ssid": "u"}, "dora": {"allow": ["02:00:00"]}}, "rp2")
    assert b["upstream"]["ssid"] == "u"
    dora_board.check({"upstream": {"ssid": "u"}}, "esp32")  # bound to the AP: fine


def test_bad_board_config_names_the_field(fakes):
    _, _, _, dora_board = fakes
    cases = [
        ({"ap": {"ssid": ""}}, "esp32", "ap.ssid:"),
        ({"ap": {"password": "short"}}, "esp32", "ap.password:"),
        ({"ap": {"channel": 14}}, "rp2", "ap.channel:"),
        ({"ap": {"address": "192.168.4"}}, "esp32", "ap.address:"),
        ({"ap": {"sid": "x"}}, "esp32", "ap.sid:"),
        ({"wifi": {}}, "esp32", "wifi:"),
        ({"watchdog_ms": 10}, "esp32", "watchdog_ms:"),
        ({"lan": {"type": "ENC28J60", "address": "10.0.0.1"}}, "ethernet", "lan.type:"),
        ({"dora": {"pool_end": "192.168.5.9"}}, "esp32", "pool_end:"),
        ({"dora": {"lease_time": "1h"}}, "rp2", "lease_time:"),
        # A Pico W cannot keep dora off the upstream network: only restricted.
        ({"upstream": {"ssid": "uplink"}}, "rp2", "upstream: on a Pico W"),
    ]
    for board, kind, field in cases:
        with pytest.raises(ValueError) as e:
            dora_board.check(board, kind)
        assert str(e.value).startswith(field), (board, str(e.value))


def test_bring_up_on_the_micropython_unix_port(micropython, tmp_path):
    port = free_port()
    board = board_config("rp2", tmp_path, port)
    script = tmp_path / "bringup.py"
    script.write_text(
        "import json, network, machine, dora_hook, dora_board\n"
        "from dora import compat\n"
        "real = compat.udp_socket\n"
        "def rec(port, ifname=None, ip='0.0.0.0'):\n"
        "    network.CALLS.append(('dora.bind', port))\n"
        "    return real(port, ifname, ip)\n"
        "compat.udp_socket = rec\n"
        "dora_board.run(network, machine, dora_hook, 'rp2', board=json.loads(%r), log=lambda l: None, rounds=1)\n"
        "print('CALLS ' + json.dumps([c[0] for c in network.CALLS]))\n" % json.dumps(board)
    )
    env = dict(os.environ, MICROPYPATH="%s:%s:%s:.frozen" % (FAKE, COMMON, os.path.join(ROOT, "firmware")))
    out = subprocess.run([micropython, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    seq = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("CALLS ")][0][6:])
    order = [seq.index(x) for x in ("AP.active", "AP.ifconfig", "dora_hook.stop_builtin_dhcp", "dora.bind")]
    assert order == sorted(order), seq


# -- tooling ------------------------------------------------------------------------------


def board_tool(*args, env=None):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "board.py")] + list(args),
                          capture_output=True, text=True, timeout=120, env=env)


def test_firmware_dry_run_prints_the_build_and_what_is_missing():
    env = dict(os.environ, PATH="/usr/bin:/bin")  # no ESP-IDF, no ARM GCC here
    out = board_tool("firmware", "--board", "rp2040", "--micropy-dir", "/opt/micropython", "--dry-run", env=env)
    assert out.returncode == 0, out.stderr
    assert "make -C /opt/micropython/ports/rp2 BOARD=RPI_PICO_W USER_C_MODULES=" in out.stdout
    assert "FROZEN_MANIFEST=%s/boards/rp2040/manifest.py" % ROOT in out.stdout
    assert "image: /opt/micropython/ports/rp2/build-RPI_PICO_W/firmware.uf2" in out.stdout
    assert "missing: MICROPY_DIR=/opt/micropython has no ports/rp2/Makefile" in out.stdout
    # Without --dry-run it refuses, naming each missing piece.
    out = board_tool("firmware", "--board", "esp32", "--micropy-dir", "", env=env)
    assert out.returncode != 0
    assert "MICROPY_DIR is not set" in out.stderr and "idf.py is not on PATH" in out.stderr


def test_deploy_dry_run_and_missing_board(tmp_path):
    out = board_tool("deploy", "--board", "esp32", "--port", "/dev/ttyUSB7", "--dry-run")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(ln.endswith("connect /dev/ttyUSB7 cp %s/boards/esp32/main.py :main.py" % ROOT) for ln in lines)
    assert any(":board.json" in ln for ln in lines) and lines[-1].endswith("reset")
    assert not any(".mpy" in ln for ln in lines)  # dora is frozen in the Wi-Fi image
    eth = board_tool("deploy", "--board", "ethernet", "--port", "/dev/ttyUSB7", "--dry-run")
    assert eth.returncode != 0 and "ARCH: " in eth.stderr  # .mpy machine code needs the board's CPU
    eth = board_tool("deploy", "--board", "ethernet", "--port", "/dev/ttyUSB7", "--arch", "armv6m", "--dry-run")
    assert eth.returncode == 0, eth.stderr
    assert ":lib/dora/runner.mpy" in eth.stdout and ":lib/dora_board.mpy" in eth.stdout
    assert "-march=armv6m" in eth.stdout and "/armv6m/dora/leases.mpy" in eth.stdout
    out = board_tool("deploy", "--board", "esp32", "--port", str(tmp_path / "ttyNONE"))
    assert out.returncode != 0 and "no board at" in out.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"ap": {"channel": 99}}))
    out = board_tool("deploy", "--board", "esp32", "--config", str(bad), "--dry-run")
    assert out.returncode != 0 and "ap.channel:" in out.stderr


def test_mpy_build_reports_sizes_and_loads(tmp_path):
    out = board_tool("mpy", "--out", str(tmp_path / "build"))
    assert out.returncode == 0, out.stderr
    assert "mpy: loads on the unix port" in out.stdout
    total = [ln for ln in out.stdout.splitlines() if ln.startswith("total")][0]
    assert int(total.split()[1]) > 10000
    assert (tmp_path / "build" / "dora_board.mpy").exists()


def test_mpy_builds_for_the_boards_cpus(tmp_path):
    """The viper scans in dora.leases compile to each board's machine code
    (what the ports' frozen builds do with MICROPY_CROSS_FLAGS too)."""
    for arch in ("xtensawin", "armv6m"):
        out = board_tool("mpy", "--out", str(tmp_path / arch), "--arch", arch)
        assert out.returncode == 0, out.stderr
        assert "(%s)" % arch in out.stdout
        # The .mpy header: byte 2 holds the native architecture in its top bits.
        with open(tmp_path / arch / "dora" / "leases.mpy", "rb") as f:
            head = f.read(4)
        assert head[0] == ord("M") and head[2] >> 2 != 0, head
    out = board_tool("mpy", "--out", str(tmp_path / "x"), "--arch", "sparc")
    assert out.returncode != 0 and "arch sparc" in out.stderr


def test_package_json_is_in_step_with_manifest_and_version():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import package_json

    with open(os.path.join(ROOT, "package.json")) as f:
        assert f.read() == package_json.text(), "package.json is stale: run `make package.json`"
    pkg = package_json.package_json()
    shipped = sorted(t for t, _ in pkg["urls"])
    expected = sorted(["dora/" + f for f in os.listdir(os.path.join(ROOT, "firmware", "dora")) if f.endswith(".py")]
                      + ["dora_board.py"])
    assert shipped == expected
    sys.path.insert(0, os.path.join(ROOT, "firmware"))
    import dora

    assert pkg["version"] == dora.__version__
    for board in ("esp32", "rp2040"):
        with open(os.path.join(ROOT, "boards", board, "manifest.py")) as f:
            assert 'include("../../manifest.py")' in f.read()
