#!/usr/bin/env python3
"""package.json files for `mpremote mip install github:OWNER/REPO[/FILE]`,
generated from the manifests (the single source of truth): the same files
and version.

    package.json          both roles and the board glue   (manifest.py)
    package-server.json   the DHCP server alone           (manifests/dora-server)
    package-client.json   the DHCP client alone           (manifests/dora-client)

`--write` updates them; without it, prints package.json.  Each role's file
lists the shared modules too: mip resolves relative URLs against where the
JSON was found, so the files live at the top of the repository.
host_tests/test_boards.py and host_tests/test_roles.py fail when a committed
file is out of step."""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ROLES = {
    "both": ("manifest.py", "package.json"),
    "server": ("manifests/dora-server/manifest.py", "package-server.json"),
    "client": ("manifests/dora-client/manifest.py", "package-client.json"),
}


def read_manifest(path=os.path.join(ROOT, "manifest.py")):
    """Evaluate a manifest with the calls dora's manifests use (metadata,
    add_library, require, include, package, module), paths relative to the
    manifest that names them, as MicroPython's tools/manifestfile.py does.
    {"version": the top manifest's, "files": [(path on the board, path in
    the repository)]}."""
    found = {"version": None, "files": []}
    libraries = {}
    visited = set()

    def run(path, top):
        path = os.path.abspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "manifest.py")
        if path in visited:
            return
        visited.add(path)
        here = os.path.dirname(path)

        def metadata(version=None, **kw):
            if top:
                found["version"] = version

        def add_library(name, library_path, prepend=False):
            libraries[name] = os.path.join(here, library_path)

        def require(name, library=None, **kw):
            for dirpath, _, files in os.walk(libraries[library]):
                if os.path.basename(dirpath) == name and "manifest.py" in files:
                    return run(dirpath, False)
            raise ValueError("package %s not found in library %s" % (name, library))

        def include(p, **kw):
            run(os.path.join(here, p), False)

        def package(name, files=None, base_path="."):
            base = os.path.join(here, base_path)
            if files is None:
                files = []
                for dirpath, _, names in sorted(os.walk(os.path.join(base, name))):
                    files += [os.path.relpath(os.path.join(dirpath, f), os.path.join(base, name))
                              for f in sorted(names) if f.endswith(".py")]
            for f in files:
                full = os.path.normpath(os.path.join(base, name, f))
                found["files"].append((name + "/" + f, os.path.relpath(full, ROOT)))

        def module(name, base_path="."):
            full = os.path.normpath(os.path.join(here, base_path, name))
            found["files"].append((name, os.path.relpath(full, ROOT)))

        with open(path) as f:
            exec(f.read(), {"metadata": metadata, "add_library": add_library, "require": require,
                            "include": include, "package": package, "module": module})

    run(path, True)
    found["files"].sort()
    return found


def package_json(role="both"):
    m = read_manifest(os.path.join(ROOT, ROLES[role][0]))
    # Relative URLs: mip resolves them against where the JSON was found.
    return {
        "urls": [[target, src] for target, src in m["files"]],
        "deps": [],
        "version": m["version"],
    }


def text(role="both"):
    return json.dumps(package_json(role), indent=2) + "\n"


if __name__ == "__main__":
    if "--write" in sys.argv:
        for role, (_, name) in ROLES.items():
            with open(os.path.join(ROOT, name), "w") as f:
                f.write(text(role))
    else:
        sys.stdout.write(text())
