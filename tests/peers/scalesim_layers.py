#!/usr/bin/python3
"""SCALE-Sim v3 layer by layer: scalesim_layers.py SCALESIM_SRC CONFIG TOPOLOGY OUTDIR

Runs SCALE-Sim (source tree SCALESIM_SRC, used by sys.path, never copied)
one layer at a time and appends each finished layer's COMPUTE, BANDWIDTH
and DETAILED_ACCESS rows (no header: *_ROWS.csv) and its wall/CPU seconds
(TIMES.csv) under OUTDIR/<run_name>, so a long run cut short still gives
per-layer rows for `scalesim_parity.py --compare` (docs/results.md,
ResNet-18). The rows are the ones SCALE-Sim's own driver writes.
"""
import os, sys, tempfile, time

from scalesim_parity import LAYOUT_HEADER


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    src, cfgf, topof, out = sys.argv[1:]
    sys.path.insert(0, src)
    from scalesim.scale_config import scale_config
    from scalesim.topology_utils import topologies
    from scalesim.layout_utils import layouts
    from scalesim.single_layer_sim import single_layer_sim
    conf = scale_config()
    conf.read_conf_file(cfgf)
    topo = topologies()
    topo.load_arrays(topofile=topof)
    lay = layouts()
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write(LAYOUT_HEADER)    # custom layouts off: its loader still wants a file
    lay.load_arrays(layoutfile=f.name)
    os.unlink(f.name)
    d = os.path.join(out, conf.get_run_name())
    os.makedirs(d, exist_ok=True)
    for i in range(topo.get_num_layers()):
        t0 = time.time()
        s = single_layer_sim()
        s.set_params(layer_id=i, config_obj=conf, topology_obj=topo, layout_obj=lay, verbose=False)
        s.run()
        for name, items in (("COMPUTE", s.get_compute_report_items()),
                            ("BANDWIDTH", s.get_bandwidth_report_items()),
                            ("DETAILED_ACCESS", s.get_detail_report_items())):
            with open(os.path.join(d, name + "_ROWS.csv"), "a") as f:
                f.write(str(i) + ", " + ", ".join(str(x) for x in items) + ",\n")
        with open(os.path.join(d, "TIMES.csv"), "a") as f:
            f.write("%d, %.2f, %.2f\n" % (i, time.time() - t0, time.process_time()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
