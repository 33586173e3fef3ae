"""Opens a tessera index with usearch's own Python package, as docs/search.md shows, and reads it back.

    python read_index.py OUT [--sample N]

Prints one JSON object: what the file says of itself (size, dimensions, metric, scalar type), how
far the vectors it stores are from the float32 vectors of OUT/vectors.parquet (usearch keeps them
at the index's precision), and, for N tiles spread over the file, the keys and distances of their
10 nearest tiles as this package finds them on the memory-mapped file, for tessera's test to
compare with its own search of the same file.
"""

import argparse
import json

import numpy as np
import pyarrow.parquet as pq
from usearch.index import Index

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--sample", type=int, default=40)
args = parser.parse_args()

record = json.load(open(f"{args.out}/index/index.json"))
index = Index.restore(f"{args.out}/{record['indexFile']}", view=True)  # memory-mapped
# The file does not carry the search-time expansion: set it as tessera searches.
index.expansion_search = record["settings"]["expansionSearch"]

table = pq.read_table(f"{args.out}/vectors.parquet", columns=["i", "vector"])
keys = table.column("i").to_numpy()
vectors = np.frombuffer(b"".join(table.column("vector").to_pylist()), dtype="<f4").reshape(len(keys), -1)
rows = np.unique(np.linspace(0, len(keys) - 1, args.sample).astype(int))

stored = np.stack([np.asarray(index[int(key)], dtype=np.float32) for key in keys[rows]])
scale = np.abs(vectors[rows]).max(axis=1, keepdims=True)
matches = index.search(vectors[rows], 10)

print(
    json.dumps(
        {
            "usearch": __import__("usearch").__version__,
            "size": len(index),
            "ndim": index.ndim,
            "metric": index.metric_kind.name,
            "dtype": index.dtype.name,
            "all_keys_present": bool(np.all(index.contains(keys))),
            "max_stored_error": float(np.max(np.abs(stored - vectors[rows]) / scale)),
            "queries": keys[rows].tolist(),
            "neighbours": matches.keys.astype(np.int64).tolist(),
            "distances": matches.distances.astype(np.float64).tolist(),
        }
    )
)
