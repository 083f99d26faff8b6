# tools/dora_ctl.py: the mpremote command it builds (--dry-run), and that the
# code it would send to the board really drives dora.control (run here, in
# process, against a registered Runner).  CPython only.

import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import dora_ctl  # noqa: E402

from dora import runner  # noqa: E402

import packets as P  # noqa: E402


def dry(*argv):
    out = subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "dora_ctl.py"), "--dry-run"] + list(argv),
                         capture_output=True, text=True, check=True).stdout.strip()
    return shlex.split(out)


def test_dry_run_prints_the_mpremote_command():
    cmd = dry("leases")
    assert cmd == ["mpremote", "exec", "import dora.control as c; c.show()"]
    cmd = dry("--device", "/dev/ttyACM0", "revoke", "192.168.4.17")
    assert cmd[:4] == ["mpremote", "connect", "/dev/ttyACM0", "exec"]
    assert cmd[4].endswith("print(c.revoke('192.168.4.17'))")
    cmd = dry("add-static", "aa:bb:cc:dd:ee:ff", "192.168.4.40", "--hostname", "cam", "--option", "114=http://x/")
    assert "c.add_static('aa:bb:cc:dd:ee:ff', '192.168.4.40', hostname='cam', options={'114': 'http://x/'})" in cmd[2]


def test_quotes_in_arguments_cannot_break_out():
    code = dora_ctl.board_code(dora_ctl.parser().parse_args(["revoke", "x'); import os; os.remove('a"]))
    assert code == "import dora.control as c; print(c.revoke(%r))" % "x'); import os; os.remove('a"


def test_the_code_sent_drives_the_control_api(tmp_path, capsys):
    r = runner.Runner({"address": "192.168.4.1", "pool_start": "192.168.4.16", "pool_end": "192.168.4.23",
                       "lease_file": str(tmp_path / "l.dat"), "log": False,
                       "hostname_len": 15})
    r.store.load(0)
    runner.running[:] = [r]
    out = bytearray(576)
    for t, opts in ((1, []), (3, [(54, r.cfg.address), (50, P.ip("192.168.4.16")), (12, b"plug")])):
        pkt = P.request(t, P.mac(1), options=opts)
        r.server.handle(pkt, len(pkt), r.clock.now(), out)
    r.store.commit(0)

    def run(*argv):
        exec(dora_ctl.board_code(dora_ctl.parser().parse_args(list(argv))), {})
        return capsys.readouterr().out

    assert "192.168.4.16" in run("leases") and "plug" in run("leases")
    assert run("add-static", "02:00:00:00:00:09", "192.168.4.20", "--hostname", "cam").strip().endswith("True")
    assert run("revoke", "192.168.4.16").strip().endswith("True")
    assert "bound" not in run("leases")
    assert run("remove-static", "02:00:00:00:00:09").strip().endswith("True")
    assert "received" in run("stats")
    runner.running[:] = []
