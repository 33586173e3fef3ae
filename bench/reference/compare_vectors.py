"""Joins two tile-vector files on (file, x, y) and reports how far their vectors are apart.

    python compare_vectors.py TESSERA.parquet REFERENCE.parquet [--tolerance 1e-4]

Prints one JSON object: rows on each side, rows missing from / extra in the first file,
max absolute error, and max relative error, where a tile's relative error is
max|a - b| / max|b| over its channels (robust to channels near zero). Exits 1 when a row is
missing or extra, a target differs, or the relative error exceeds the tolerance.
"""

import argparse
import json
import sys

import numpy as np
import pyarrow.parquet as pq


def load(path):
    table = pq.read_table(path, columns=["file", "x", "y", "target", "vector"])
    keys = list(zip(table["file"].to_pylist(), table["x"].to_pylist(), table["y"].to_pylist()))
    vectors = table["vector"].to_pylist()
    targets = table["target"].to_pylist()
    return {k: (t, np.frombuffer(v, dtype=np.float32)) for k, t, v in zip(keys, targets, vectors)}


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("ours")
    parser.add_argument("reference")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args(argv)
    ours, ref = load(args.ours), load(args.reference)
    common = sorted(set(ours) & set(ref))
    max_abs, max_rel, target_mismatches = 0.0, 0.0, 0
    for key in common:
        (t1, a), (t2, b) = ours[key], ref[key]
        target_mismatches += t1 != t2
        diff = float(np.max(np.abs(a - b)))
        max_abs = max(max_abs, diff)
        max_rel = max(max_rel, diff / max(float(np.max(np.abs(b))), 1e-12))
    report = {
        "rows_ours": len(ours), "rows_reference": len(ref), "compared": len(common),
        "missing_from_ours": len(set(ref) - set(ours)), "extra_in_ours": len(set(ours) - set(ref)),
        "target_mismatches": target_mismatches, "max_abs_error": max_abs, "max_rel_error": max_rel,
        "tolerance": args.tolerance,
    }
    report["ok"] = (report["missing_from_ours"] == 0 and report["extra_in_ours"] == 0
                    and target_mismatches == 0 and max_rel <= args.tolerance)
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
