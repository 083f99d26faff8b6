"""Before measuring: dora's .mpy files for this machine, and the peer's
(micropython-captive-dhcp-server from PyPI, compiled unmodified)."""

import glob
import os
import shutil
import subprocess
import sys
import tarfile

from common import MPYCROSS, OUT  # first: it puts tools/ on the path

import board  # tools/board.py

PEER = ("micropython-captive-dhcp-server", "0.0.5.dev0")
PEER_PKG = "micropython_captive_dhcp_server"


def build_mpy():
    """dora's .mpy files for this machine, as `make mpy`: (MICROPYPATH dir,
    {name: bytes})."""
    out = os.path.join(OUT, "build")
    sizes = board.compile_mpy(out)
    return out, {rel[5:]: n for rel, n in sizes if rel.startswith("dora/")}


def fetch_peer():
    """The peer's sdist from PyPI (pip download, no install), compiled to .mpy
    unmodified.  Returns (MICROPYPATH dir, sizes) or (None, why)."""
    dl = os.path.join(OUT, "peer-dl")
    os.makedirs(dl, exist_ok=True)
    if not glob.glob(os.path.join(dl, "*.tar.gz")):
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                            "--disable-pip-version-check", "-d", dl, "%s==%s" % PEER],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            return None, "pip download failed: " + r.stderr.strip()[-300:]
    tgz = glob.glob(os.path.join(dl, "*.tar.gz"))[0]
    src = os.path.join(OUT, "peer-src")
    shutil.rmtree(src, ignore_errors=True)
    with tarfile.open(tgz) as t:
        t.extractall(src)
    pkg = glob.glob(os.path.join(src, "*", PEER_PKG))[0]
    out = os.path.join(OUT, "peer-build", PEER_PKG)
    os.makedirs(out, exist_ok=True)
    sizes = {}
    for f in sorted(glob.glob(os.path.join(pkg, "*.py"))):
        name = os.path.basename(f)[:-3] + ".mpy"
        subprocess.run([MPYCROSS, "-o", os.path.join(out, name), f], check=True, timeout=60)
        sizes[name] = os.path.getsize(os.path.join(out, name))
    return os.path.join(OUT, "peer-build"), sizes


