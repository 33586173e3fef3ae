"""The notebook's split, verbatim, for comparison with tessera's prepareSplit.

    python pandas_split.py INPUT_CSV OUT_DIR VAL_SAMPLES SEED [CLASS_COLUMN] [ID_COLUMN]

Writes OUT_DIR/training.csv and OUT_DIR/validation.csv exactly as the notebook does.
"""

import os
import sys

import pandas as pd


def main(argv):
    input_csv, out_dir, val_samples, seed = argv[0], argv[1], int(argv[2]), int(argv[3])
    class_column = argv[4] if len(argv) > 4 else "hotel_id"
    id_column = argv[5] if len(argv) > 5 else "image_id"
    data_df = pd.read_csv(input_csv)
    val_df = data_df.groupby(class_column).sample(val_samples, random_state=seed)
    train_df = data_df[~data_df[id_column].isin(val_df[id_column])]
    os.makedirs(out_dir, exist_ok=True)
    train_df.to_csv(os.path.join(out_dir, "training.csv"))
    val_df.to_csv(os.path.join(out_dir, "validation.csv"))


if __name__ == "__main__":
    main(sys.argv[1:])
