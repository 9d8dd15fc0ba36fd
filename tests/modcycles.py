#!/usr/bin/env python3
"""Fail on an import cycle among txanon's source files.

Every file under src/ is a module (foo.rs and foo/mod.rs are `foo`). A file
depends on another when it names one of its items through a `crate::` path
(in a `use` or inline), a `super::`/`self::` path or a path through a child
it declares. A module that only declares a child (`mod child;`) does not
depend on it, and a child naming its ancestors' items is not counted (that
is what a submodule is). Test modules (`#[cfg(test)]`
and below) are left out: tests may use anything. Prints each cycle found
(strongly connected component of two or more files) and exits 1.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "src")


def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel in (["lib"], ["main"]):
        return ()
    return tuple(rel)


def strip(text):
    # Comments, char literals, raw and plain strings, in one pass so a quote
    # inside one of them does not start another.
    text = re.sub(
        r"//[^\n]*|/\*.*?\*/|'(?:\\.|[^'\\\n])'|\br(#*)\".*?\"\1|\"(?:\\.|[^\"\\])*\"",
        lambda m: '""' if m.group(0).endswith('"') else " ",
        text,
        flags=re.S,
    )
    cut = re.search(r"#\[cfg\(test\)\]", text)
    return text[: cut.start()] if cut else text


def paths_in(text):
    """Every path named in `text`, expanded from `use a::{b, c::d}` groups."""
    out = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        out.extend(expand(re.sub(r"\s+", "", m.group(1))))
    for m in re.finditer(r"\b((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        out.append(m.group(1))
    return out


def expand(tree):
    i = tree.find("{")
    if i < 0:
        return [tree]
    prefix, body = tree[:i], tree[i + 1 : tree.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [x for p in parts if p for x in expand(prefix + p)]


def main():
    files = {}
    for d, _, names in os.walk(SRC):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(d, n)
                files[module_of(p)] = p
    mods = set(files)
    edges = {m: set() for m in mods}
    for m, p in files.items():
        with open(p, encoding="utf-8") as f:
            text = strip(f.read())
        children = set(re.findall(r"\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;", text))
        named = paths_in(text)
        for child in children:
            named += re.findall(r"\b(?:self::)?(" + child + r"(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text)
        for path in named:
            seg = path.split("::")
            if seg[0] == "self":
                seg = list(m) + seg[1:]
            elif seg[0] in children:
                seg = list(m) + seg
            elif seg[0] == "crate":
                seg = seg[1:]
            elif seg[0] == "super":
                base = list(m)
                # foo.rs or foo/mod.rs: super is the parent of `m`.
                while seg and seg[0] == "super":
                    base = base[:-1]
                    seg = seg[1:]
                seg = base + seg
            else:
                continue
            # The longest prefix that is a file module.
            target = None
            for k in range(len(seg), -1, -1):
                if tuple(seg[:k]) in mods:
                    target = tuple(seg[:k])
                    break
            # A child naming its parent's (or an ancestor's) items is how a
            # submodule works; the ancestor owns it. Not counted.
            if target is None or m[: len(target)] == target:
                continue
            edges[m].add(target)
    # Tarjan.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(mods):
        if v not in index:
            visit(v)
    if not sccs:
        print(f"module cycles: none among {len(mods)} source files")
        return 0
    for comp in sccs:
        names = sorted("::".join(c) for c in comp)
        print("cycle: " + ", ".join(names), file=sys.stderr)
        for a in sorted(comp):
            for b in sorted(edges[a] & set(comp)):
                print(f"  {'::'.join(a)} -> {'::'.join(b)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
