"""The plain single-process loop tessera's feed path is compared with (issue "Feed a GPU").

PIL decode -> numpy float32 CHW (x / 255) -> onnxruntime (1 thread) -> pyarrow ParquetWriter with
FIXED_LEN_BYTE_ARRAY vectors and dictionary-encoded target and file, batches of 32. Prints one
JSON line: images, seconds (wall, model load excluded), cpu_seconds.

    python python_loop.py DATA_DIR MODEL OUT.parquet
"""
import csv
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

BATCH = 32


def main(data: str, model: str, out: str) -> None:
    with open(os.path.join(data, "train.csv"), newline="") as f:
        rows = [(r["image_id"], int(r["hotel_id"])) for r in csv.DictReader(f)]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    schema = pa.schema([
        ("i", pa.int32()), ("vector", pa.binary(320 * 4)), ("target", pa.int32()),
        ("file", pa.string()), ("x", pa.int32()), ("y", pa.int32()),
    ])
    started, cpu_started = time.perf_counter(), time.process_time()
    writer = pq.ParquetWriter(out, schema, use_dictionary=["target", "file"], compression="zstd")
    for first in range(0, len(rows), BATCH):
        batch = rows[first:first + BATCH]
        pixels = np.empty((len(batch), 3, 256, 256), dtype=np.float32)
        for k, (image_id, _) in enumerate(batch):
            image = Image.open(os.path.join(data, "images", image_id)).convert("RGB")
            if image.size != (256, 256):
                image = image.resize((256, 256))
            pixels[k] = (np.asarray(image, dtype=np.float32) / 255).transpose(2, 0, 1)
        features = session.run(None, {input_name: pixels})[0]
        n, c, h, w = features.shape
        tiles = np.ascontiguousarray(features.transpose(0, 2, 3, 1)).reshape(n * h * w, c)
        vectors = pa.FixedSizeBinaryArray.from_buffers(pa.binary(c * 4), n * h * w, [None, pa.py_buffer(tiles.tobytes())])
        ordinals = np.repeat(np.arange(first, first + n, dtype=np.int32), h * w)
        grid = np.arange(h * w, dtype=np.int32)
        table = pa.table({
            "i": ordinals * (h * w) + np.tile(grid, n),
            "vector": vectors,
            "target": np.repeat(np.array([t for _, t in batch], dtype=np.int32), h * w),
            "file": pa.array(np.repeat(np.array([i for i, _ in batch], dtype=object), h * w), pa.string()),
            "x": np.tile(grid // w, n),
            "y": np.tile(grid % w, n),
        }, schema=schema)
        writer.write_table(table)
    writer.close()
    print(json.dumps({"images": len(rows), "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu_started}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
