"""Describes a tile-vector Parquet file as pyarrow sees it, as one JSON object: the arrow type
of each column, the column encodings of the first row group, and the first vector decoded
with numpy.frombuffer(float32)."""

import json
import sys

import numpy as np
import pyarrow.parquet as pq


def main(path):
    parquet = pq.ParquetFile(path)
    group = parquet.metadata.row_group(0)
    first = parquet.read_row_group(0, columns=["vector"])["vector"][0].as_py()
    print(json.dumps({
        "types": {field.name: str(field.type) for field in parquet.schema_arrow},
        "encodings": {group.column(k).path_in_schema: list(group.column(k).encodings) for k in range(group.num_columns)},
        "rows": parquet.metadata.num_rows,
        "first_vector_length": int(np.frombuffer(first, dtype=np.float32).shape[0]),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
