#!/usr/bin/python3
"""SCALE-Sim v3 against nmlab's compat mode, column by column.

Usage: scalesim_parity.py NMLAB SCALESIM_SRC WORKDIR [-q] [CASE ...]
       scalesim_parity.py --compare SCALESIM_DIR NMLAB_DIR
         (two report directories of a run made elsewhere, e.g. ResNet-18;
         SCALESIM_DIR may hold <REPORT>_ROWS.csv files without a header, as
         a layer-by-layer SCALE-Sim driver writes them; only the layers both
         have are compared, every column, with per-column worst differences)

SCALE-Sim v3's source (github scalesim-project/scale-sim-v3; Python, numpy,
tqdm, pandas from Debian) is run from SCALESIM_SRC by sys.path, never
copied here. For each case (a small topology, array, SRAM size, dataflow,
USER bandwidth or CALC) both tools write COMPUTE_REPORT.csv,
BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv. nmlab runs twice:
with `scalesim_replay = true` every column of the three reports must agree
on every layer; with the closed forms (no replay) the columns in EXACT
(and EXACT_CALC in CALC mode) must, the others are printed with their
relative difference (sim/README.md says why they differ). Exit status 0
when every such column agrees, 1 otherwise, 77 (skip) when SCALESIM_SRC is
not a SCALE-Sim source tree.
"""
import csv, os, subprocess, sys, time

# name: (topology rows, array rows, cols, SRAM KB per operand, dataflow, bandwidth or None = CALC)
TOPO_A = [("c1", 12, 12, 3, 3, 4, 16, 1), ("c2", 10, 10, 3, 3, 16, 20, 2), ("fc", 1, 1, 1, 1, 64, 10, 1)]
TOPO_B = [("c1", 16, 16, 3, 3, 8, 24, 1), ("pw", 14, 14, 1, 1, 24, 40, 1), ("fc", 1, 1, 1, 1, 200, 30, 1)]
TOPO_C = [("c", 8, 8, 3, 3, 3, 4, 1)]   # tests/lua/sim_mem.lua's conv
CASES = {
    "a32_ws_calc": (TOPO_A, 32, 32, 1, "ws", None),   # a fold larger than the buffers
    "a32_os_user2": (TOPO_A, 32, 32, 1, "os", 2),
    "c4_ws_user10": (TOPO_C, 4, 4, 64, "ws", 10),
    "c4_os_user10": (TOPO_C, 4, 4, 64, "os", 10),
    "a8_ws_user2": (TOPO_A, 8, 8, 1, "ws", 2),
    "a8_os_user2": (TOPO_A, 8, 8, 1, "os", 2),
    "a8_ws_calc": (TOPO_A, 8, 8, 1, "ws", None),
    "a8_os_calc": (TOPO_A, 8, 8, 1, "os", None),
    "b16_ws_user4": (TOPO_B, 16, 16, 2, "ws", 4),
    "b16_os_user4": (TOPO_B, 16, 16, 2, "os", 4),
    "b16_ws_calc": (TOPO_B, 16, 16, 2, "ws", None),
    "b16_os_calc": (TOPO_B, 16, 16, 2, "os", None),
}

REPORTS = ["COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"]
# columns nmlab's analytical model reproduces exactly (sim/README.md)
EXACT = {"SRAM IFMAP Reads", "SRAM Filter Reads", "SRAM OFMAP Writes", "Mapping Efficiency %"}
# CALC: no read stalls, so the cycle counts and everything over them too
EXACT_CALC = {"Total Cycles", "Stall Cycles", "Overall Util %", "Compute Util %",
              "Avg IFMAP SRAM BW", "Avg FILTER SRAM BW", "Avg OFMAP SRAM BW"}
EXACT_USER = set()

CFG = """[general]
run_name = {name}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {kb}
FilterSramSzkB: {kb}
OfmapSramSzkB: {kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : {bw}
Dataflow : {df}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""

LAYOUT_HEADER = ("Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
                 "Filter Height Intraline Factor, Filter Width Intraline Factor, Channel Intraline "
                 "Factor, Num Filter Intraline Factor, IFMAP Height Intraline Order, IFMAP Width "
                 "Intraline Order, Channel Intraline Order, IFMAP Height Interline Order, IFMAP "
                 "Width Interline Order, Channel Interline Order, Num Filter Intraline Order, "
                 "Channel Intraline Order, Filter Height Intraline Order, Filter Width Intraline "
                 "Order, Num Filter Interline Order, Channel Interline Order, Filter Height "
                 "Interline Order, Filter Width Interline Order,\n")


def read_report(path, head=None):
    """rows of a SCALE-Sim style CSV as {column: float}; a headerless file
    takes the column names `head`"""
    with open(path) as f:
        rows = list(csv.reader(f))
    if head is None:
        head, rows = [h.strip() for h in rows[0]], rows[1:]
    out = []
    for r in rows:
        if not any(x.strip() for x in r):
            continue
        out.append({h: float(x) for h, x in zip(head, r) if h})
    return out


def write_inputs(d, name, case):
    topo, rows, cols, kb, df, bw = case
    os.makedirs(d, exist_ok=True)
    tp = os.path.join(d, "topo.csv")
    with open(tp, "w") as f:
        f.write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                "Num Filter, Strides,\n")
        for l in topo:
            f.write(",".join(str(x) for x in l) + ",\n")
    cp = os.path.join(d, "scale.cfg")
    with open(cp, "w") as f:
        f.write(CFG.format(name=name, rows=rows, cols=cols, kb=kb, df=df,
                           bw=bw if bw else 10, mode="USER" if bw else "CALC"))
    lp = os.path.join(d, "layout.csv")
    with open(lp, "w") as f:
        f.write(LAYOUT_HEADER)
    return tp, cp, lp


def run_scalesim(src, tp, cp, lp, out):
    code = ("import sys; sys.path.insert(0, sys.argv[1]);"
            "from scalesim.scale_sim import scalesim;"
            "s = scalesim(save_disk_space=True, verbose=False, config=sys.argv[2],"
            " topology=sys.argv[3], layout=sys.argv[4]); s.run_scale(top_path=sys.argv[5])")
    t0 = time.time()
    subprocess.run(["/usr/bin/python3", "-c", code, src, cp, tp, lp, out], check=True,
                   stdout=subprocess.DEVNULL)
    return time.time() - t0


def run_nmlab(nmlab, case, tp, out, replay):
    topo, rows, cols, kb, df, bw = case
    os.makedirs(out, exist_ok=True)
    chunk = ("local m = assert(nm.load([=[%s]=]))\n"
             "local s = nm.sim.system{mac = 'pmac', rows = %d, cols = %d, compat = 'scalesim',"
             " dataflow = '%s', sram_kb = {ifmap = %d, filter = %d, ofmap = %d}, bandwidth = %s,"
             " scalesim_replay = %s}\n"
             "assert(s:run(m):scalesim([=[%s]=]))\n"
             % (tp, rows, cols, df, kb, kb, kb, bw if bw else "'calc'",
                "true" if replay else "false", out))
    t0 = time.time()
    p = subprocess.run([nmlab, "-e", chunk], stderr=subprocess.PIPE, text=True)
    if p.returncode:
        if replay:
            raise RuntimeError("nmlab failed: " + p.stderr)
        return None, p.stderr.splitlines()[0] if p.stderr else "failed"
    return time.time() - t0, None


def compare(name, case, sdir, ndir, replay, quiet):
    bw = case[5]
    exact = EXACT | (EXACT_USER if bw else EXACT_CALC)
    bad = 0
    print("== %s (%dx%d, %d KB, %s, %s), nmlab %s" % (name, case[1], case[2], case[3], case[4],
          "USER bw %d" % bw if bw else "CALC", "replay" if replay else "closed forms"))
    for rep in REPORTS:
        s, n = read_report(os.path.join(sdir, rep)), read_report(os.path.join(ndir, rep))
        if len(s) != len(n):
            print("  %s: %d layers in SCALE-Sim, %d in nmlab" % (rep, len(s), len(n)))
            bad += 1
            continue
        for col in s[0]:
            if col == "LayerID" or col not in n[0]:
                continue
            sv = [r[col] for r in s]
            nv = [r[col] for r in n]
            same = all(abs(a - b) <= 1e-6 * max(1.0, abs(a)) for a, b in zip(sv, nv))
            tag = "exact" if replay or col in exact else "model"
            if tag == "exact" and not same:
                bad += 1
            worst = max(abs(a - b) / max(abs(a), 1e-9) for a, b in zip(sv, nv))
            if quiet and same:
                continue
            print("  %-5s %-4s %-32s %s" % (tag, "ok" if same else "DIFF", col,
                  "" if same else "worst rel %.3g  scalesim %s  nmlab %s" %
                  (worst, [round(x, 3) for x in sv], [round(x, 3) for x in nv])))
    return bad


def compare_dirs(sdir, ndir):
    """--compare: every column of every layer both directories have"""
    bad = 0
    for rep in REPORTS:
        n = read_report(os.path.join(ndir, rep))
        sp = os.path.join(sdir, rep)
        if not os.path.exists(sp):
            sp = os.path.join(sdir, rep.replace("_REPORT.csv", "_ROWS.csv"))
            with open(os.path.join(ndir, rep)) as f:
                head = [h.strip() for h in next(csv.reader(f))]
            s = read_report(sp, head)
        else:
            s = read_report(sp)
        layers = min(len(s), len(n))
        print("%s: %d layers compared" % (rep, layers))
        for col in n[0]:
            if col == "LayerID" or col not in s[0]:
                continue
            diff = [i for i in range(layers)
                    if abs(s[i][col] - n[i][col]) > 1e-6 * max(1.0, abs(s[i][col]))]
            worst = max([abs(s[i][col] - n[i][col]) / max(abs(s[i][col]), 1e-9)
                         for i in range(layers)] + [0])
            bad += len(diff)
            print("  %-4s %-32s %s" % ("ok" if not diff else "DIFF", col,
                  "" if not diff else "layers %s, worst rel %.3g" % (diff, worst)))
    print("scalesim_parity --compare: %s" % ("PASS" if bad == 0 else "FAIL, %d cells" % bad))
    return 0 if bad == 0 else 1


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--compare":
        return compare_dirs(sys.argv[2], sys.argv[3])
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    nmlab, src, work = sys.argv[1], sys.argv[2], sys.argv[3]
    if not os.path.isfile(os.path.join(src, "scalesim", "memory", "read_buffer.py")):
        print("scalesim_parity: SKIP: no SCALE-Sim v3 source at '%s' (fetch "
              "github.com/scalesim-project/scale-sim-v3 and pass its directory: "
              "make test-scalesim SCALESIM_SRC=DIR)" % src)
        return 77
    args = sys.argv[4:]
    quiet = "-q" in args
    names = [a for a in args if a != "-q"] or list(CASES)
    bad = 0
    for name in names:
        case = CASES[name]
        d = os.path.join(work, name)
        tp, cp, lp = write_inputs(d, name, case)
        ts = run_scalesim(src, tp, cp, lp, os.path.join(d, "scalesim"))
        for replay in (True, False):
            nd = os.path.join(d, "nmlab-replay" if replay else "nmlab-closed")
            tn, refused = run_nmlab(nmlab, case, tp, nd, replay)
            if refused:
                # the closed forms refuse a fold larger than its buffer
                # (SCALE-Sim and the replay refetch instead)
                print("== %s, nmlab closed forms: refused as expected: %s" % (name, refused))
                continue
            b = compare(name, case, os.path.join(d, "scalesim", name), nd, replay, quiet)
            print("  SCALE-Sim %.2f s, nmlab %.3f s, %d exact columns differ" % (ts, tn, b))
            bad += b
    print("scalesim_parity: %s (%d cases)" % ("PASS" if bad == 0 else "FAIL, %d columns" % bad,
                                             len(names)))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
