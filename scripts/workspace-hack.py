#!/usr/bin/env python3
"""Checks (default) or rewrites (--write) shared/workspace-hack/Cargo.toml.

Cargo resolves features per build: `cargo build -p pms-local` (make dev) and `cargo nextest run
--workspace` (make test) would otherwise compile some third-party crates with different
features (tokio's test-util from dev-dependencies, serde's rc...) and so rebuild them, and
everything above them, each time one follows the other. The workspace-hack crate, a dependency
of every binary crate, takes each such crate with the union of the features the whole workspace
enables, so every build compiles it the same way.

For each workspace member this compares the features `cargo tree` resolves for a build of that
member alone with those of the whole workspace (dev-dependencies included); any difference is
a crate the hack must list. Exit 1 (check) when one is missing.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HACK = os.path.join(ROOT, "shared", "workspace-hack", "Cargo.toml")
# Crates build scripts and proc macros also use; their features resolve apart from the rest.
BUILD_TOO = {"syn", "serde", "serde_core", "serde_json", "regex-automata", "regex-syntax",
             "indexmap", "num-traits", "bitflags", "bytes"}


def tree(args):
    out = subprocess.run(
        ["cargo", "tree", "--offline", "-f", "{p}|{f}", "--prefix", "none", *args],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    feats = {}
    for line in out.splitlines():
        line = line.strip().replace(" (*)", "")
        if "|" not in line:
            continue
        pkg, f = line.split("|", 1)
        if "(/" in pkg:  # a workspace member (path dependency)
            continue
        feats.setdefault(pkg.strip(), set()).update(x.strip() for x in f.split(",") if x.strip())
    return feats


def members():
    """The members built on their own by make dev and cargo lambda: those depending on the
    hack (libraries are only built as part of them or of the workspace)."""
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--offline", "--no-deps", "--format-version", "1"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    return [p["name"] for p in meta["packages"]
            if any(d["name"] == "pms-workspace-hack" for d in p["dependencies"])]


def main():
    whole = tree(["--workspace", "-e", "normal,build,dev"])
    differ = {}
    for m in members():
        for pkg, f in tree(["-p", m, "-e", "normal,build"]).items():
            if whole.get(pkg) != f:
                differ.setdefault(pkg, []).append(m)
    if "--write" not in sys.argv:
        if differ:
            for pkg, ms in sorted(differ.items()):
                print(f"{pkg}: features differ when building {', '.join(sorted(ms))}")
            print("run scripts/workspace-hack.py --write", file=sys.stderr)
            sys.exit(1)
        print("workspace-hack: every member builds third-party crates with one feature set")
        return
    lines, build = [], []
    for pkg in sorted(differ):
        name, ver = pkg.split(" ")[:2]
        ver = ver.lstrip("v")
        major = ver.split(".")[0]
        req = major if major != "0" else ".".join(ver.split(".")[:2])
        feats = sorted(whole[pkg])
        key = name if not any(p.startswith(name + " ") and p != pkg and p < pkg for p in differ) \
            else f"{name}{major}"
        extra = f', package = "{name}"' if key != name else ""
        default = "" if "default" in feats else ", default-features = false"
        listed = ", ".join(f'"{f}"' for f in feats if f != "default")
        line = f'{key} = {{ version = "{req}"{extra}{default}, features = [{listed}] }}'
        lines.append(line)
        if name in BUILD_TOO:
            build.append(line)
    text = open(HACK).read()
    head = text.split("[dependencies]\n")[0]
    comment = "# The same for build scripts and proc macros, whose features cargo resolves apart.\n"
    open(HACK, "w").write(head + "[dependencies]\n" + "\n".join(lines) + "\n\n" + comment
                          + "[build-dependencies]\n" + "\n".join(build) + "\n")
    print(f"wrote {len(lines)} crates to {os.path.relpath(HACK, ROOT)}")


if __name__ == "__main__":
    main()
