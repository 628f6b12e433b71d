#!/usr/bin/env python3
"""The storage seam's two rules, checked on src/ (a ctest, `lint.seam`):

1. Only the SQLite backend's code uses SQLite: every other module talks to
   the database through db.h (comments aside; the seam's registry in db.c
   names the backend's function table and nothing else of it).
2. No include cycle between modules: module A (A.c and A.h) depends on B
   when either includes B.h; the graph must be acyclic, so each concern can
   be read, tested and replaced on its own.

Exit 0 when both hold; otherwise print each offence and exit 1.
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
BACKEND = {"db_sqlite", "store_vfs", "store_ckpt", "store_backup"}  # the SQLite backend's modules
INCLUDE = re.compile(r'^\s*#\s*include\s+"([A-Za-z0-9_]+)\.h"', re.M)


def owner(stem):
    """A module's private header (X_internal.h, X_backend.h) is part of X."""
    return re.sub(r"_(internal|backend)$", "", stem)


def modules():
    mods = {}
    for name in sorted(os.listdir(SRC)):
        stem, ext = os.path.splitext(name)
        if ext in (".c", ".h"):
            with open(os.path.join(SRC, name), encoding="utf-8") as f:
                mods.setdefault(owner(stem), {})[stem + ext] = f.read()
    return mods


COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def code_only(text):
    """text with its comments blanked (newlines kept, so line numbers hold)."""
    return COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def sqlite_offences(mods):
    out = []
    for stem, files in mods.items():
        if stem in BACKEND:
            continue
        # the seam's registry (db.c) names each backend's table, nothing more
        pattern = r"sqlite3|SQLITE_" if stem == "db" else r"sqlite3|SQLITE_|db_sqlite"
        for fname, text in files.items():
            for i, line in enumerate(code_only(text).splitlines(), 1):
                if re.search(pattern, line):
                    out.append(f"src/{fname}:{i}: SQLite outside its backend: {line.strip()}")
    return out


def cycles(mods):
    deps = {m: set() for m in mods}
    for stem, files in mods.items():
        for text in files.values():
            for dep in map(owner, INCLUDE.findall(text)):
                if dep != stem and dep in mods:
                    deps[stem].add(dep)
    found, state, stack = [], {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(deps[m]):
            if state.get(d) == 1:
                found.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(deps):
        if m not in state:
            visit(m)
    return [" -> ".join(c) for c in found]


def main():
    mods = modules()
    bad = sqlite_offences(mods)
    bad += [f"include cycle: {c}" for c in cycles(mods)]
    for b in bad:
        print(b)
    print(f"check_seam: {len(mods)} modules, {len(bad)} offence(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
