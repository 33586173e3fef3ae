"""The notebook's extraction method in PyTorch, as the reference for tessera's vectors.

Same split (pandas groupby().sample), same decoding (PIL -> numpy uint8), same preprocessing
(albumentations' ToFloat = x / 255 as float32, ToTensorV2 = HWC -> CHW, no normalisation), the
same backbone level, and the notebook's pyarrow writer and schema. The backbone is built by
infra/export_model.py's `build_backbone`, so with the same name and seed it has exactly the
weights of the ONNX file tessera runs.

    python notebook_vectors.py --data DIR --out vectors.parquet [--backbone efficientnet_b0]
        [--level 4] [--batch-size 32] [--notebook-loader]

--notebook-loader uses the notebook's DataLoader(shuffle=True, drop_last=True), which drops up
to batch_size-1 images; by default images are read in order and none is dropped.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from PIL import Image
from pyarrow.parquet import ParquetWriter
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "infra"))
from export_model import build_backbone  # noqa: E402


class HotelTrainDataset:
    def __init__(self, data, data_path):
        self.data = data
        self.data_path = data_path

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        record = self.data.iloc[idx]
        image = np.array(Image.open(os.path.join(self.data_path, record["image_id"]))).astype(np.uint8)
        image = torch.from_numpy((image.astype(np.float32) / 255).transpose(2, 0, 1).copy())
        return {"image": image, "image_id": record["image_id"], "target": int(record["hotel_id"])}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--backbone", default="efficientnet_b0")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--level", type=int, default=4)
    parser.add_argument("--img-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--val-samples", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--weights-seed", type=int, default=0, help="torch seed the exporter used")
    parser.add_argument("--notebook-loader", action="store_true")
    args = parser.parse_args(argv)

    data_df = pd.read_csv(args.data / "train.csv")
    val_df = data_df.groupby("hotel_id").sample(args.val_samples, random_state=args.seed)
    train_df = data_df[~data_df["image_id"].isin(val_df["image_id"])]

    torch.manual_seed(args.weights_seed)
    extractor, channels, _, _ = build_backbone(args.backbone, False, args.random_weights, args.img_size)
    torch.set_num_threads(os.cpu_count() or 1)

    dataset = HotelTrainDataset(train_df, args.data / "images")
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=args.notebook_loader,
                        drop_last=args.notebook_loader, num_workers=2 if args.notebook_loader else 0)
    width = channels[args.level]
    schema = pa.schema([("i", pa.int32()), ("vector", pa.binary(width * 4)), ("target", pa.int32()),
                        ("file", pa.string()), ("x", pa.int32()), ("y", pa.int32())])
    writer = ParquetWriter(str(args.out), schema, use_dictionary=["target", "file"])
    rows, i = [], 0
    with torch.no_grad():
        for batch in loader:
            vectors = extractor(batch["image"])[args.level].cpu().numpy()
            for b in range(vectors.shape[0]):
                for x in range(vectors.shape[2]):
                    for y in range(vectors.shape[3]):
                        rows.append({"i": i, "vector": vectors[b, :, x, y].astype(np.float32).tobytes(),
                                     "target": int(batch["target"][b]), "file": batch["image_id"][b], "x": x, "y": y})
                        i += 1
            if len(rows) >= 32768:
                writer.write_table(pa.Table.from_pandas(pd.DataFrame(rows), schema=schema))
                rows = []
    if rows:
        writer.write_table(pa.Table.from_pandas(pd.DataFrame(rows), schema=schema))
    writer.close()
    print(f"reference: {i} rows from {len(train_df)} images -> {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
