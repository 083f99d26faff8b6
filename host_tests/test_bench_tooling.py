# The bench's own logic, without running a bench: the targets decided from
# figures, the quiet-machine rule, the README table's ranges and markers,
# and the report rendered from a results set.
import copy
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.append(os.path.join(ROOT, "bench"))

import load  # noqa: E402
import measure_speed  # noqa: E402
import readme_table  # noqa: E402
import report  # noqa: E402
import targets  # noqa: E402


def speed_run(dora, kea, load1=0.1):
    """The part of a results.json the README table reads: dora-mp and kea,
    each at `x` exchanges/s at 0 drops and 1.5 x at the max."""
    def server(x):
        return {"loadgen_summary": {"zero_drop_rate": x, "max_rate": 1.5 * x},
                "perfdhcp_summary": {"zero_drop_rate": x / 2, "max_rate": x}}

    return {
        "load": {"start": {"load1": load1, "load5": 0.2, "nproc": 2}, "end": {"load1": 1.9, "load5": 0.8, "nproc": 2}},
        "speed": {
            "dora-mp": server(dora),
            "kea": server(kea),
            "ratios": {"kea": {"loadgen": dora / kea, "loadgen_max": dora / kea,
                               "perfdhcp": dora / kea, "perfdhcp_max": dora / kea}},
        },
    }


def memory_figures(handle_net=0, table_bytes=4048):
    return {"memory": {
        "ram_per_lease": table_bytes / 253,
        "dora": {"per_exchange": {"handle_net": handle_net, "handle_packets": 3000, "gc_disabled_alloc": 1600},
                 "min_heap": 120000, "churn": {"ready": {"table_bytes": table_bytes, "capacity": 253}}},
        "peer": {"per_exchange": {"gc_disabled_alloc": 226000}, "min_heap": 900000},
    }}


def decided(res):
    return {label: ok for label, ok, _ in targets.decide(res)}


def test_memory_targets_follow_the_figures():
    met = decided(memory_figures())
    assert met["0 bytes allocated in the packet path (Server.handle)"] is True
    assert met["<= 16 bytes of RAM per lease"] is True
    missed = decided(memory_figures(handle_net=8, table_bytes=4100))
    assert missed["0 bytes allocated in the packet path (Server.handle)"] is False
    assert missed["<= 16 bytes of RAM per lease"] is False
    res = memory_figures()
    res["memory"]["dora"]["per_exchange"]["handle_net"] = None
    assert decided(res)["0 bytes allocated in the packet path (Server.handle)"] is None


def test_speed_target_against_kea_is_half_its_rate():
    assert decided(speed_run(1400, 2800))["dora-mp >= 0.5x kea (at 0 % drops)"] is True
    assert decided(speed_run(1000, 2800))["dora-mp >= 0.5x kea (at 0 % drops)"] is False


def test_zero_drops_needs_every_exchange_done_at_the_offered_rate():
    def step(offered, asked, started, done):
        return {"offered_rate": offered, "asked": asked, "started": started, "done": done, "rate": done / 1.5}

    steps = [step(4000, 6000, 6000, 6000),
             step(5600, 8400, 8400, 8400),
             # all done, but the window held the generator back: not served
             step(8000, 12000, 10850, 10850),
             step(11000, 16500, 15000, 14800)]
    assert [measure_speed.served(s) for s in steps] == [True, True, False, False]
    assert measure_speed.summarize(steps)["zero_drop_rate"] == 5600
    assert measure_speed.served(step(8000, 12000, 11500, 11500))  # 96 %: kept up


def test_a_loaded_machine_is_not_quiet():
    assert load.quiet({"load1": 0.3, "load5": 2.0, "nproc": 2}) is None
    why = load.quiet({"load1": 1.7, "load5": 0.1, "nproc": 2})
    assert why and "1.70" in why and "0.50" in why
    assert load.quiet({"load1": 1.7, "load5": 0.1, "nproc": 2}, max_load=2) is None
    snap = load.snapshot()
    assert set(snap) == {"load1", "load5", "nproc"} and snap["nproc"] >= 1


def test_readme_table_gives_ranges_over_the_runs():
    runs = [speed_run(1400, 2800, 0.1), speed_run(2000, 2800, 0.2), speed_run(1400, 4000, 0.05)]
    block = readme_table.table(runs)
    assert block.startswith(readme_table.BEGIN) and block.endswith(readme_table.END)
    assert "| dora on MicroPython | 1,400–2,000 (2,100–3,000) | 700–1,000 (1,400–2,000) |" in block
    assert "| Kea 2.2 memfile | 2,800–4,000 (4,200–6,000) |" in block
    assert "| Kea 2.2 memfile | 0.35–0.71 (0.35–0.71) | 0.35–0.71 (0.35–0.71) |" in block
    assert "before each: 0.10, 0.20, 0.05 (2 CPUs)" in block
    assert "dnsmasq" not in block  # not measured in these runs: no row


def test_readme_table_replaces_only_what_is_between_the_markers():
    text = "intro\n%s\nold table\n%s\nafter\n" % (readme_table.BEGIN, readme_table.END)
    out = readme_table.replace_between_markers(text, readme_table.table([speed_run(1400, 2800)]))
    assert out.startswith("intro\n") and out.endswith("\nafter\n") and "old table" not in out
    assert out.count(readme_table.BEGIN) == 1 and out.count(readme_table.END) == 1
    with pytest.raises(SystemExit):
        readme_table.replace_between_markers("no markers here", "table")


def test_the_readme_has_the_table_markers_once():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    assert text.count(readme_table.BEGIN) == 1 and text.count(readme_table.END) == 1
    assert text.index(readme_table.BEGIN) < text.index(readme_table.END)


def test_report_renders_figures_and_targets_and_says_when_the_machine_was_busy():
    res = copy.deepcopy(memory_figures())
    res.update(speed_run(1400, 2800))
    res["load"]["not_quiet"] = load.quiet({"load1": 1.7, "load5": 0.1, "nproc": 2})
    text, decided_targets = report.render(res, {"server.mpy": 9000}, {}, None, 12.0)
    assert "## Memory" in text and "## Speed" in text and "## Targets" in text
    assert "**Not a quiet machine** (1-minute load average 1.70" in text
    assert "1-min 0.10 / 5-min 0.20 at the start, 1-min 1.90 / 5-min 0.80 at the end, 2 CPUs" in text
    assert "| dora-mp / kea | 0.50 (0.50) | 0.50 (0.50) |" in text
    assert len(decided_targets) == 5  # four of memory, one against Kea
    res["load"]["not_quiet"] = None
    assert "Not a quiet machine" not in report.render(res, {}, {}, None, 1.0)[0]
