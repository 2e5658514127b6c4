# SPDX-License-Identifier: BSD-3-Clause
"""The figures of one side of bench/restart/run.sh's guest benchmark.

usage: python3 stall.py SIDE CONSOLE EVENTS LOGDISK [LOG]

CONSOLE: the guest's console, each line stamped by the test host with
its arrival time ("<epoch s> <line>"): /tick's clock lines.
LOGDISK: the guest's log disk image: "CUPULE-LOG <bytes>\n", then fio's
latency log, gzip'ed.
EVENTS: one line per event of the test host's loop,
"<base|kill> <i> <t0> <t1> <ready|->": a kill sent between t0 and t1
(epoch s), or, in the first phase, the same moment without a kill;
ready, when known, the moment the new backend could serve.
LOG: cupule's stamped stderr (-v), where each new mediator's READY is.

Places every I/O of fio's log on the test host's time line and gives
each event its stall: the longest latency among the I/Os in flight at
any moment between t0 and t1 (widened by the clock offset's error).
Prints "BENCH-RESULT: SIDE WHAT N P50 P99 MAX" lines (ms) and one
"BENCH-EVENT:" line per event.
"""
import bisect
import gzip
import math
import re
import sys

# How far a tick's offset may be from the true one: the time a line
# takes through the serial port at best, and fio's ms timestamps.
SLACK_MS = 10.0


def pct(values, p):
    """Nearest-rank percentile of VALUES, or None when empty."""
    if not values:
        return None
    v = sorted(values)
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)]


def result(side, what, values):
    f = [pct(values, p) for p in (50, 99, 100)]
    print("BENCH-RESULT: %s %s %d %s" % (side, what, len(values), " ".join(
        "-" if x is None else "%.1f" % x for x in f)))


def read_console(path):
    """Ticks [(host ms, guest ms)]."""
    ticks = []
    with open(path, errors="replace") as f:
        for raw in f:
            stamp, _, line = raw.rstrip("\r\n").partition(" ")
            try:
                host = float(stamp) * 1000
            except ValueError:
                continue
            line = line.strip("\r")
            m = re.search(r"CUPULE-BENCH: T (\d+) (-?\d+)", line)
            if m:
                ticks.append((host, float(m.group(1))))
    return ticks


def read_log(path):
    """fio's latency log on the log disk: [(end ms, lat ms)]."""
    ios = []
    try:
        with open(path, "rb") as f:
            head = f.readline(64)
            m = re.fullmatch(rb"CUPULE-LOG (\d+)\n", head)
            if not m:
                print("BENCH-INFO: no latency log on the log disk")
                return ios
            text = gzip.decompress(f.read(int(m.group(1)))).decode()
    except (ValueError, OSError, EOFError) as e:
        print("BENCH-INFO: latency log unreadable: %s" % e)
        return ios
    for row in text.splitlines():
        cols = row.split(",")
        if len(cols) >= 2:
            ios.append((float(cols[0]), float(cols[1]) / 1e6))
    return ios


def offset_near(ticks, at_ms):
    """Host minus guest clock: the least of the ticks within 20 s."""
    near = [h - g for h, g in ticks if abs(h - at_ms) < 20000]
    if not near:
        near = [h - g for h, g in ticks]
    return min(near)


def supervisor_lines(path):
    """Deaths [host ms] and READYs [(host ms, spawn-to-READY ms)] in
    cupule's log."""
    deaths, readies = [], []
    with open(path, errors="replace") as f:
        for raw in f:
            stamp, _, line = raw.partition(" ")
            m = re.search(r"ready (\d+) ms after it was started", line)
            if m:
                readies.append((float(stamp) * 1000, float(m.group(1))))
            elif "killed by SIGKILL" in line:
                deaths.append(float(stamp) * 1000)
    return deaths, readies


def main():
    side, console, events, logdisk = sys.argv[1:5]
    ticks, ios = read_console(console), read_log(logdisk)
    evs = []
    with open(events) as f:
        for row in f:
            c = row.split()
            if len(c) >= 5 and c[0] in ("base", "kill"):
                ready = None if c[4] == "-" else float(c[4]) * 1000
                evs.append([c[0], int(c[1]), float(c[2]) * 1000,
                            float(c[3]) * 1000, ready])
    # Each kill's moment: cupulectl's kill is somewhere between t0 and
    # t1, and the VM process logs the death at once (its pidfd), so its
    # line marks it; the line's trip to the stamp is the same as the
    # READY line's.  kill -9 from the loop itself is at t0.
    for e in evs:
        e.append(e[2])
    if len(sys.argv) > 5:
        deaths, readies = supervisor_lines(sys.argv[5])
        for k, e in enumerate(evs):
            nxt = evs[k + 1][2] if k + 1 < len(evs) else math.inf
            d = [h for h in deaths if e[2] <= h < nxt]
            if e[0] != "kill" or not d:
                continue
            e[5] = d[0]
            r = [h for h, _ in readies if d[0] <= h < nxt]
            e[4] = r[0] if r else None
        spawn = [s for h, s in readies
                 if any(e[0] == "kill" and e[2] <= h for e in evs)]
        result(side, "spawn-ready", spawn)
    print("BENCH-INFO: %s: %d ticks, %d I/Os logged, %d events" %
          (side, len(ticks), len(ios), len(evs)))
    if not ticks or not ios:
        result(side, "stall-base", [])
        result(side, "stall-kill", [])
        result(side, "kill-ready", [e[4] - e[5] for e in evs
                                    if e[0] == "kill" and e[4] is not None])
        return
    # The I/Os on the host's time line: [start, end], ms.
    ios.sort()
    ends = [end for end, _ in ios]
    io_end = ios[-1][0] + offset_near(ticks, ticks[-1][0])
    stalls = {"base": [], "kill": []}
    for kind, i, t0, t1, ready, died in evs:
        off = offset_near(ticks, t0)
        lo, hi = t0 - SLACK_MS, t1 + SLACK_MS
        if hi > io_end:
            print("BENCH-EVENT: %s %s %d after fio's end" % (side, kind, i))
            continue
        # I/Os ending after lo, until one starts after hi: at queue
        # depth 1 the log is in order of completion, one I/O at a time.
        lats = []
        for end, lat in ios[bisect.bisect_left(ends, lo - off):]:
            if end + off - lat > hi + 1:
                break
            lats.append(lat)
        worst = max(lats) if lats else None
        if worst is not None:
            stalls[kind].append(worst)
        print("BENCH-EVENT: %s %s %d at %.3f for %.1f ms: stall %s ms over "
              "%d I/Os; killed +%.1f ms, ready +%s ms" % (
                  side, kind, i, t0 / 1000, t1 - t0,
                  "-" if worst is None else "%.1f" % worst, len(lats),
                  died - t0, "-" if ready is None else "%.1f" % (ready - t0)))
    result(side, "stall-base", stalls["base"])
    result(side, "stall-kill", stalls["kill"])
    result(side, "kill-ready", [e[4] - e[5] for e in evs
                                if e[0] == "kill" and e[4] is not None])
    # Every I/O of the phase without kills, for scale.
    kills = [e[2] for e in evs if e[0] == "kill"]
    first = min(kills) if kills else math.inf
    off = offset_near(ticks, ticks[0][0])
    result(side, "lat-base", [lat for end, lat in ios if end + off < first])
    spread = sorted(h - g for h, g in ticks)
    print("BENCH-INFO: %s: clock offset %.1f ms, ticks' delay p50 %.1f ms "
          "above it" % (side, spread[0], pct(spread, 50) - spread[0]))


if __name__ == "__main__":
    main()
