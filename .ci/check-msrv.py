#!/usr/bin/env python3
"""Fails if a workspace member claims a rust-version lower than what its
locked dependencies need.

For each member, the needed version is the highest `rust-version` among the
packages it pulls in from Cargo.lock: its own normal, build and dev
dependencies (dev: a contributor on the stated version must be able to run
the tests), and their normal and build dependencies, transitively, for the
current platform. Prints one line per member.
"""
import json
import subprocess
import sys


def version(v):
    return tuple(int(x) for x in v.split(".")) + (0,) * (3 - len(v.split(".")))


def main():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked",
             "--filter-platform", host_triple()],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}

    def deps(node_id, kinds):
        for d in nodes[node_id]["deps"]:
            if any((k["kind"] or "normal") in kinds for k in d["dep_kinds"]):
                yield d["pkg"]

    failed = False
    for member in meta["workspace_members"]:
        seen = set()
        stack = list(deps(member, {"normal", "build", "dev"}))
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            stack.extend(deps(pid, {"normal", "build"}))
        need, who = (0, 0, 0), "nothing"
        for pid in seen:
            rv = packages[pid].get("rust_version")
            if rv and version(rv) > need:
                need, who = version(rv), f'{packages[pid]["name"]} {packages[pid]["version"]}'
        pkg = packages[member]
        claim = pkg.get("rust_version")
        ok = claim is not None and version(claim) >= need
        failed |= not ok
        print(f'{"ok  " if ok else "FAIL"} {pkg["name"]}: rust-version {claim}, '
              f'dependencies need {".".join(map(str, need))} ({who})')
    if failed:
        print("check-msrv: raise rust-version (workspace Cargo.toml) to what the "
              "dependencies need", file=sys.stderr)
        sys.exit(1)


def host_triple():
    out = subprocess.run(["rustc", "-vV"], check=True, capture_output=True, text=True).stdout
    return next(l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("host: "))


if __name__ == "__main__":
    main()
