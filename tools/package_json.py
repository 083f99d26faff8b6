#!/usr/bin/env python3
"""package.json for `mpremote mip install github:OWNER/REPO`, generated from
manifest.py (the single source of truth): the same package, module and
version.  `--write` updates package.json; without it, prints it.
host_tests/test_boards.py fails when the committed file is out of step."""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_manifest(path=os.path.join(ROOT, "manifest.py")):
    """Evaluate manifest.py with the three manifest calls it uses."""
    found = {"version": None, "files": []}

    def metadata(version=None, **kw):
        found["version"] = version

    def package(name, base_path="."):
        base = os.path.join(ROOT, base_path)
        for dirpath, _, files in sorted(os.walk(os.path.join(base, name))):
            for f in sorted(files):
                if f.endswith(".py"):
                    full = os.path.join(dirpath, f)
                    found["files"].append((os.path.relpath(full, base), os.path.relpath(full, ROOT)))

    def module(name, base_path="."):
        full = os.path.join(ROOT, base_path, name)
        found["files"].append((name, os.path.relpath(full, ROOT)))

    with open(path) as f:
        exec(f.read(), {"metadata": metadata, "package": package, "module": module})
    return found


def package_json():
    m = read_manifest()
    # Relative URLs: mip resolves them against where package.json was found.
    return {
        "urls": [[target, src] for target, src in m["files"]],
        "deps": [],
        "version": m["version"],
    }


def text():
    return json.dumps(package_json(), indent=2) + "\n"


if __name__ == "__main__":
    if "--write" in sys.argv:
        with open(os.path.join(ROOT, "package.json"), "w") as f:
            f.write(text())
    else:
        sys.stdout.write(text())
