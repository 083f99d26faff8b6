# tools/dora_ctl.py: the mpremote command it builds (--dry-run), and that the
# program it sends really does the job, run here on CPython against a board
# config and lease file in a temporary folder (the same program runs on the
# emulated W5500 board in host_tests/system/test_ethernet_board.py).

import json
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(__file__)
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "boards", "common"))
import dora_ctl  # noqa: E402

from dora import runner  # noqa: E402

import packets as P  # noqa: E402


def dry(*argv):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "dora_ctl.py"), "--dry-run"] + list(argv),
                         capture_output=True, text=True, check=True).stdout.strip()
    return shlex.split(out)


def test_dry_run_prints_one_mpremote_run_that_ends_in_a_reset():
    cmd = dry("leases")
    assert cmd[:2] == ["mpremote", "exec"] and cmd[3:] == ["reset"]
    assert "c.show()" in cmd[2]
    cmd = dry("--device", "/dev/ttyACM0", "revoke", "192.168.4.17")
    assert cmd[:4] == ["mpremote", "connect", "/dev/ttyACM0", "exec"] and cmd[-1] == "reset"
    assert "print(c.revoke('192.168.4.17'))" in cmd[4]
    cmd = dry("add-static", "aa:bb:cc:dd:ee:ff", "192.168.4.40", "--hostname", "cam", "--option", "114=http://x/")
    assert "c.add_static('aa:bb:cc:dd:ee:ff', '192.168.4.40', hostname='cam', options={'114': 'http://x/'})" in cmd[2]


def test_quotes_in_arguments_cannot_break_out():
    evil = "x'); import os; os.remove('a"
    code = dora_ctl.board_code(dora_ctl.parser().parse_args(["revoke", evil]))
    assert "print(c.revoke(%r))" % evil in code
    compile(code, "board", "exec")  # one well-formed program


def board_files(tmp_path):
    """A board config and a lease file with two bindings, as a board would
    have them after serving."""
    leases = str(tmp_path / "leases.dat")
    cfg_path = str(tmp_path / "board.json")
    board = {"lan": {"type": "W5500", "address": "192.168.4.1", "netmask": "255.255.255.0"},
             "dora": {"pool_start": "192.168.4.16", "pool_end": "192.168.4.23", "lease_file": leases,
                      "hostname_len": 15},
             "watchdog_ms": 0}  # no machine.WDT on CPython (the board test feeds a real one)
    with open(cfg_path, "w") as f:
        json.dump(board, f)
    r = runner.Runner(dict(board["dora"], address="192.168.4.1"), log=lambda s: None)
    r.store.load(0)
    out = bytearray(576)
    for n, want in ((1, "192.168.4.16"), (2, "192.168.4.17")):
        for t, opts in ((1, []), (3, [(54, r.cfg.address), (50, P.ip(want)), (12, b"plug%d" % n)])):
            pkt = P.request(t, P.mac(n), options=opts)
            r.server.handle(pkt, len(pkt), r.clock.now(), out)
    r.store.commit(0)
    r.store.close()
    return cfg_path


def run_on_board(capsys, cfg_path, *argv):
    code = dora_ctl.board_code(dora_ctl.parser().parse_args(list(argv)), config=cfg_path)
    exec(code, {})
    runner.running[:] = []
    return capsys.readouterr().out


def test_the_program_sent_changes_the_files_the_board_boots_from(tmp_path, capsys):
    cfg_path = board_files(tmp_path)
    table = run_on_board(capsys, cfg_path, "leases")
    assert "192.168.4.16" in table and "192.168.4.17" in table and table.count("bound") == 2, table
    assert "bound 2," in run_on_board(capsys, cfg_path, "stats")

    # revoke: on the lease file, so the next start has it free
    assert run_on_board(capsys, cfg_path, "revoke", "192.168.4.16").strip().endswith("True")
    table = run_on_board(capsys, cfg_path, "leases")
    assert table.count("bound") == 1 and "192.168.4.17" in table

    # add-static: in board.json (it lasts), and the dynamic lease on that
    # address is ended; a MAC given again replaces its entry
    out = run_on_board(capsys, cfg_path, "add-static", "02:00:00:00:00:09", "192.168.4.17", "--hostname", "cam")
    assert out.strip().endswith("True"), out
    run_on_board(capsys, cfg_path, "add-static", "02:00:00:00:00:09", "192.168.4.20", "--hostname", "cam")
    with open(cfg_path) as f:
        static = json.load(f)["dora"]["static"]
    assert static == [{"mac": "02:00:00:00:00:09", "address": "192.168.4.20", "hostname": "cam"}]
    assert "bound" not in run_on_board(capsys, cfg_path, "leases")

    assert run_on_board(capsys, cfg_path, "remove-static", "02:00:00:00:00:09").strip().endswith("True")
    with open(cfg_path) as f:
        assert json.load(f)["dora"]["static"] == []


def test_bad_arguments_get_one_line_and_change_nothing(tmp_path, capsys):
    cfg_path = board_files(tmp_path)
    with open(cfg_path) as f:
        before = f.read()
    for argv in (("revoke", "not-a-mac"), ("add-static", "02:00:00:00:00:09", "10.0.0.5"),
                 ("add-static", "zz:00:00:00:00:09", "192.168.4.20")):
        out = run_on_board(capsys, cfg_path, *argv)
        errors = [ln for ln in out.splitlines() if ln.startswith(dora_ctl.ERROR_MARK)]
        assert len(errors) == 1 and "Traceback" not in out, (argv, out)
    with open(cfg_path) as f:
        assert f.read() == before
    assert run_on_board(capsys, cfg_path, "leases").count("bound") == 2
