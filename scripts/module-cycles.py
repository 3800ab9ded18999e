#!/usr/bin/env python3
"""Fails when modules of one crate depend on each other in a circle.

For each crate of the workspace (every Cargo.toml with a src/), each .rs file is a module; every
`crate::a::b` and `super::x` path in it names the deepest module it reaches. A reference between
two modules counts as an edge between the two sibling modules that hold them (below their
lowest common ancestor); a child's reference to its ancestors (or an ancestor's to its
children) is the module tree itself, not a circle. A cycle among siblings is printed with the
references that make it, and the script exits 1.
"""
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH_RE = re.compile(r"\b(crate|super(?:::super)*|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{)")
USE_RE = re.compile(r"\buse\s+((?:crate|super|self)(?:::super)*::[^;]*);", re.S)


# The product's crates. The test crate's chaos suite is test code whose modules share one
# round's state; it is not held to this rule.
SCOPES = ("shared", "functions", "infra")


def crates():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel = os.path.relpath(dirpath, ROOT)
        if rel != "." and rel.split(os.sep)[0] not in SCOPES:
            dirnames[:] = []
            continue
        dirnames[:] = [d for d in dirnames if d not in ("target", ".git", "node_modules", "fuzz")]
        if "Cargo.toml" in filenames and os.path.isdir(os.path.join(dirpath, "src")):
            yield dirpath


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("lib", "main", "mod"):
        rel = rel[:-1]
    if rel and rel[0] == "bin":
        return None  # binaries are crates of their own
    return tuple(rel)


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def expand_use(tree):
    """`a::{b, c::{d}}` -> ['a::b', 'a::c::d'] (enough to know which modules are named)."""
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)::\{(.*)\}$", tree)
    if not m:
        return [re.sub(r"as\w+$", "", tree)]
    head, body = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    out = []
    for p in parts:
        if p in ("self", ""):
            out.append(head)
        else:
            out += expand_use(head + "::" + p)
    return out


def resolve(mod, path, modules):
    segs = path.split("::")
    if segs[0] == "crate":
        base, rest = (), segs[1:]
    else:
        base = list(mod)
        rest = segs
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                if not base:
                    return None
                base = base[:-1]
            rest = rest[1:]
        base = tuple(base)
    target = base
    for s in rest:
        if target + (s,) in modules:
            target = target + (s,)
        else:
            break
    return target


def check_crate(crate_dir):
    src = os.path.join(crate_dir, "src")
    files = {}
    for dirpath, _, filenames in os.walk(src):
        for f in filenames:
            if f.endswith(".rs"):
                p = os.path.join(dirpath, f)
                m = module_of(src, p)
                if m is not None:
                    files[p] = m
    modules = set(files.values())
    for m in list(modules):
        for i in range(len(m)):
            modules.add(m[:i])
    edges = defaultdict(set)  # (parent, a, b) -> refs
    for p, mod in files.items():
        text = strip_comments(open(p, encoding="utf-8").read())
        paths = []
        for u in USE_RE.finditer(text):
            paths += expand_use(u.group(1))
        body = USE_RE.sub("", text)
        paths += [m.group(1) + m.group(2) for m in PATH_RE.finditer(body) if m.group(2) != "::{"]
        for path in paths:
            dst = resolve(mod, path, modules)
            if dst is None or dst == mod:
                continue
            k = 0
            while k < min(len(mod), len(dst)) and mod[k] == dst[k]:
                k += 1
            if k == len(mod) or k == len(dst):
                continue  # ancestor or descendant
            parent = mod[:k]
            edges[(parent, mod[k], dst[k])].add(f"{os.path.relpath(p, ROOT)}: {path}")
    graph = defaultdict(lambda: defaultdict(set))
    for (parent, a, b), refs in edges.items():
        graph[parent][a] |= {b}
    cycles = []
    for parent, g in graph.items():
        for scc in sccs(g):
            if len(scc) > 1:
                cycles.append((parent, scc))
    for parent, scc in cycles:
        where = "::".join(("crate",) + parent)
        print(f"cycle in {os.path.relpath(crate_dir, ROOT)} among the children of {where}: {', '.join(sorted(scc))}")
        for a in sorted(scc):
            for b in sorted(graph[parent][a] & scc):
                for r in sorted(edges[(parent, a, b)])[:3]:
                    print(f"  {a} -> {b}  ({r})")
    return len(cycles)


def sccs(g):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    nodes = set(g) | {b for a in g for b in g[a]}

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            out.append(comp)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    total = sum(check_crate(c) for c in sorted(crates()))
    if total:
        print(f"{total} module cycle(s)")
        return 1
    print("no module cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
