#!/usr/bin/env python3
"""Turn one bench/bench.sh run into the markdown section of docs/benchmarks.md.

Reads the shared harness's table (compare.sh output), and per round the
wxscened memory samples (wxscened.mem, from bench/serve.sh), the wrk response
counts in the run.sh log and the rows of that round's database, then writes
per-round rows, medians, ratios against limit-evhttp and peer-node-store,
the targets and the store check between the markers
<!-- bench:begin --> and <!-- bench:end --> of --doc (or prints it).
"""
import argparse
import datetime
import os
import platform
import re
import sqlite3
import statistics
import subprocess

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
OURS = "wxscened"
LIMIT = "limit-evhttp"
STARVED_CPU = 90  # % of a core below which limit-evhttp was starved
TARGET_RATIO, TARGET_P99_MS, TARGET_RSS_MB = 0.60, 5.0, 20.0


def ms(v):
    """wrk latency text (812.00us, 1.53ms, 1.02s) in milliseconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", v.strip())
    if not m:
        return None
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]


def pct(v):
    m = re.fullmatch(r"(\d+)%", v.strip())
    return int(m.group(1)) if m else None


def run_time(path):
    """The end time compare.sh printed above its table, or None."""
    with open(path) as f:
        m = re.search(r"round\(s\), (\d{4}-\d\d-\d\dT\d\d:\d\d)", f.read())
    return m.group(1) + "Z" if m else None


def parse_compare(path):
    """Rows of the per-round table: dicts with server, rps, p50, p99, ..."""
    rows = []
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 11 or cells[0] in ("server", "---"):
                continue
            try:
                rps = float(cells[1])
            except ValueError:
                rps = None
            rows.append({"server": cells[0], "rps": rps, "p50": ms(cells[2]), "p99": ms(cells[3]),
                         "non2xx": cells[4], "badbody": cells[5], "sockerr": cells[6],
                         "badsig": cells[7], "srvcpu": pct(cells[8]), "wrkcpu": pct(cells[9]),
                         "round": int(cells[10])})
    return rows


def round_extras(logs, rnd):
    """wxscened's memory and store check for one round."""
    d = os.path.join(logs, f"r{rnd}")
    extra = {"hwm_kb": None, "rss_kb": None, "rows": None, "responses": None}
    try:
        with open(os.path.join(d, "wxscened.mem")) as f:
            kv = dict(p.split("=") for p in f.read().split())
            extra["hwm_kb"], extra["rss_kb"] = int(kv["hwm_kb"]), int(kv["rss_kb"])
    except (OSError, KeyError, ValueError):
        pass
    try:
        with open(os.path.join(d, f"{OURS}.log")) as f:
            extra["responses"] = sum(int(n) for n in re.findall(r"push\.lua: responses=(\d+)", f.read()))
    except OSError:
        pass
    db = os.path.join(d, "wxscene.db")
    if os.path.exists(db):
        con = sqlite3.connect(db)
        try:
            extra["rows"] = con.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            con.close()
    return extra


def cmd_out(*cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def machine(build, root, when):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    osname = "?"
    try:
        with open("/etc/os-release") as f:
            osname = next(l.split("=", 1)[1].strip().strip('"') for l in f if l.startswith("PRETTY_NAME"))
    except (OSError, StopIteration):
        pass
    commit = os.environ.get("BENCH_COMMIT") or cmd_out("git", "-C", root, "describe", "--always", "--dirty")
    pkg = lambda m: cmd_out("pkg-config", "--modversion", m)
    return [
        ("date (UTC)", when or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")),
        ("machine", f"{os.cpu_count()} CPUs ({cpu}), kernel {platform.release()}, {osname}"),
        ("wxscened", f"{cmd_out(os.path.join(build, 'wxscened'), '--version')}, commit {commit}, "
                     f"{os.path.basename(build)}/ (CMake RelWithDebInfo: -O2 -g)"),
        ("libraries", f"libevent {pkg('libevent')}, SQLite {pkg('sqlite3')}, libxml2 {pkg('libxml-2.0')}, "
                      f"OpenSSL {pkg('libcrypto')}"),
        ("load", f"{' '.join(cmd_out('wrk', '-v').split()[:3])}; node {cmd_out('node', '-v')}; "
                 f"{cmd_out('nginx', '-v').replace('nginx version: ', '')}"),
    ]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec="{:.0f}", none="-"):
    return none if x is None else spec.format(x)


def build_section(rows, extras, info, params):
    servers = list(dict.fromkeys(r["server"] for r in rows))
    rounds = sorted({r["round"] for r in rows})
    by = {(r["server"], r["round"]): r for r in rows}
    out = [BEGIN, "", "## Latest run (written by `make bench`)", ""]
    out += ["| what | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in info]
    out += [f"| harness | {params} |", ""]

    out += ["### Per round", "",
            "| round | server | req/s | p50 ms | p99 ms | non2xx | badbody | sockerr | badsig | srv CPU | wrk CPU | RSS peak / end |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for rnd in rounds:
        for s in servers:
            r = by.get((s, rnd))
            if not r:
                continue
            mem = "-"
            if s == OURS and extras[rnd]["hwm_kb"]:
                mem = f"{extras[rnd]['hwm_kb'] / 1024:.1f} / {extras[rnd]['rss_kb'] / 1024:.1f} MB"
            out.append(f"| {rnd} | {s} | {fmt(r['rps'], none='FAILED')} | {fmt(r['p50'], '{:.2f}')} | "
                       f"{fmt(r['p99'], '{:.2f}')} | {r['non2xx']} | {r['badbody']} | {r['sockerr']} | "
                       f"{r['badsig']} | {fmt(r['srvcpu'], '{}%')} | {fmt(r['wrkcpu'], '{}%')} | {mem} |")
    out.append("")

    def ratio(a, b, rnd):
        ra, rb = by.get((a, rnd)), by.get((b, rnd))
        return ra["rps"] / rb["rps"] if ra and rb and ra["rps"] and rb["rps"] else None

    out += ["### Medians over the rounds", "",
            "spread = (max - min) / median of req/s; ratios are the median of the per-round ratios "
            "(both servers measured in the same round).", "",
            "| server | rounds | median req/s | spread | p50 ms | p99 ms | srv CPU | vs limit-evhttp | vs peer-node-store |",
            "|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    for s in servers:
        rs = [by[(s, n)] for n in rounds if (s, n) in by and by[(s, n)]["rps"]]
        if not rs:
            out.append(f"| {s} | 0 | FAILED | | | | | | |")
            continue
        rps = [r["rps"] for r in rs]
        m = statistics.median(rps)
        vs_limit = med([ratio(s, "limit-evhttp", n) for n in rounds])
        vs_store = med([ratio(s, "peer-node-store", n) for n in rounds])
        summary[s] = {"rps": m, "p99": med([r["p99"] for r in rs]), "vs_limit": vs_limit}
        out.append(f"| {s} | {len(rs)} | {m:.0f} | {100 * (max(rps) - min(rps)) / m:.0f}% | "
                   f"{fmt(med([r['p50'] for r in rs]), '{:.2f}')} | {fmt(med([r['p99'] for r in rs]), '{:.2f}')} | "
                   f"{fmt(med([r['srvcpu'] for r in rs]), '{:.0f}%')} | {fmt(vs_limit, '{:.2f}')} | "
                   f"{fmt(vs_store, '{:.1f}x')} |")
    out.append("")

    starved = [n for n in rounds if (LIMIT, n) in by and (by[(LIMIT, n)]["srvcpu"] or 0) < STARVED_CPU]
    clean = [n for n in rounds if n not in starved]
    if starved:
        line = (f"{'Rounds' if len(starved) > 1 else 'Round'} {', '.join(map(str, starved))}: limit-evhttp got only "
                f"{', '.join(fmt(by[(LIMIT, n)]['srvcpu'], '{}%') for n in starved)} of a core (it takes a full "
                f"core when the machine is undisturbed), so the VM was starved then and the ratios to it are "
                f"flattering (the harness's RESULTS.md discards such rounds).")
        if clean:
            line += (f" Over the undisturbed round(s) {', '.join(map(str, clean))} only: wxscened / limit-evhttp = "
                     f"{fmt(med([ratio(OURS, LIMIT, n) for n in clean]), '{:.2f}')}, wxscened / peer-node-store = "
                     f"{fmt(med([ratio(OURS, 'peer-node-store', n) for n in clean]), '{:.1f}x')}.")
        out += [line, ""]

    ours = summary.get(OURS, {})
    hwm = max((e["hwm_kb"] for e in extras.values() if e["hwm_kb"]), default=None)
    def verdict(ok):
        return "n/a" if ok is None else ("met" if ok else "MISSED")
    r_ok = None if ours.get("vs_limit") is None else ours["vs_limit"] >= TARGET_RATIO
    p_ok = None if ours.get("p99") is None else ours["p99"] < TARGET_P99_MS
    m_ok = None if hwm is None else hwm / 1024 < TARGET_RSS_MB
    out += [f"### Targets ({os.environ.get('CONNS', '64')} connections, group commit with "
            f"synchronous={os.environ.get('WXS_BENCH_SYNC', 'normal')})", "",
            "| target | measured | |", "|---|---|---|",
            f"| req/s >= {TARGET_RATIO:.0%} of limit-evhttp | {fmt(ours.get('vs_limit'), '{:.0%}')} | {verdict(r_ok)} |",
            f"| p99 < {TARGET_P99_MS:.0f} ms | {fmt(ours.get('p99'), '{:.2f} ms')} | {verdict(p_ok)} |",
            f"| RSS < {TARGET_RSS_MB:.0f} MB | peak {fmt(hwm and hwm / 1024, '{:.1f} MB')} | {verdict(m_ok)} |", ""]

    out += ["### Store check", "",
            "Every event wrk saw acknowledged must be a row: rows = responses (warm-up + measured) "
            "+ 1 (the harness's check request) + the requests still in flight when wrk stopped "
            "(at most one per connection per wrk run), and the harness counted no non-200 answer.", "",
            "| round | events rows | wrk responses | rows - responses - 1 | |", "|---|---|---|---|---|"]
    conns = int(os.environ.get("CONNS", "64"))
    for rnd in rounds:
        e, r = extras[rnd], by.get((OURS, rnd))
        if e["rows"] is None or e["responses"] is None:
            out.append(f"| {rnd} | {e['rows']} | {e['responses']} | - | no data |")
            continue
        extra = e["rows"] - e["responses"] - 1
        ok = 0 <= extra <= 2 * conns and r is not None and r["non2xx"] == "0"
        out.append(f"| {rnd} | {e['rows']} | {e['responses']} | {extra} | {'ok' if ok else 'MISMATCH'} |")
    out += ["", END]
    return "\n".join(out) + "\n"


def write_doc(path, section):
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section.rstrip("\n") + text[text.index(END) + len(END):]
    else:
        text = (text or "# Benchmarks\n") .rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logs", required=True)
    ap.add_argument("--compare", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--doc", default="")
    a = ap.parse_args()
    rows = parse_compare(a.compare)
    if not rows:
        raise SystemExit(f"report: no result rows in {a.compare}")
    extras = {n: round_extras(a.logs, n) for n in sorted({r["round"] for r in rows})}
    params = (f"`ROUNDS={os.environ.get('ROUNDS', '3')} THREADS={os.environ.get('THREADS', '1')} "
              f"CONNS={os.environ.get('CONNS', '64')} DURATION={os.environ.get('DURATION', '10s')} "
              f"WARMUP={os.environ.get('WARMUP', '3s')}` (../shared/bench/compare.sh, wrk/push.lua)")
    section = build_section(rows, extras, machine(a.build, a.root, run_time(a.compare)), params)
    if a.doc:
        write_doc(a.doc, section)
        print(f"report: wrote {a.doc}")
    else:
        print(section)


if __name__ == "__main__":
    main()
