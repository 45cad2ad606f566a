#!/usr/bin/python3
"""Summarizes `make bench-peers`'s forward lines (read from stdin, as
tests/peers/bench_forward.py and bench_forward.lua print them) as one row per
(model, batch): each side's images/s per round, their medians, and the ratio
nmlab/PyTorch per round and of the medians. A side that refused is shown with
its message. Exits 0; it only reports."""
import re
import statistics
import sys

LINE = re.compile(r"^peer (pytorch|nmlab) (\S+) batch (\d+): (?:([\d.]+) images/s|REFUSED \((.*)\))")


def main():
    runs = {}   # (model, batch) -> {"pytorch": [...], "nmlab": [...]}
    refused = {}
    order = []
    for line in sys.stdin:
        mt = LINE.match(line.strip())
        if not mt:
            continue
        side, model, batch = mt.group(1), mt.group(2), int(mt.group(3))
        key = (model, batch)
        if key not in runs:
            runs[key] = {"pytorch": [], "nmlab": []}
            order.append(key)
        if mt.group(4):
            runs[key][side].append(float(mt.group(4)))
        else:
            refused[(key, side)] = mt.group(5)
    print(f"{'model':14s} {'batch':>5s}  {'nmlab images/s (rounds)':34s} {'PyTorch images/s (rounds)':34s}"
          f" {'ratio (median)':>14s}  per-round ratios")
    for key in order:
        r = runs[key]
        nm, pt = r["nmlab"], r["pytorch"]

        def col(v, side):
            if (key, side) in refused and not v:
                return "REFUSED"
            return " ".join(f"{x:.2f}" for x in v)
        ratio, per = "-", "-"
        if nm and pt:
            ratio = f"{statistics.median(nm) / statistics.median(pt):.2f}"
            per = " ".join(f"{a / b:.2f}" for a, b in zip(nm, pt))
        print(f"{key[0]:14s} {key[1]:5d}  {col(nm, 'nmlab'):34s} {col(pt, 'pytorch'):34s} {ratio:>14s}  {per}")
    for (key, side), msg in refused.items():
        print(f"{side} refused {key[0]} batch {key[1]}: {msg}")


if __name__ == "__main__":
    main()
