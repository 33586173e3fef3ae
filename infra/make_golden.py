"""Makes the golden files `npm test` compares tessera with, so that it needs neither pandas nor torch.

    python make_golden.py --inputs DIR --out DIR [--features-engine auto|torch|onnxruntime]

--inputs is what test/support/write-golden-inputs.ts wrote (split/cases.json and each case's
train.csv); --out gets:

  split-pandas.json        per split case, what the notebook's pandas split (bench/reference/
                           pandas_split.py) makes of it: sha256 and line count of training.csv and
                           validation.csv, the class column of validation.csv (its group order),
                           or the error pandas raised
  notebook-features.json   the notebook method's tile vectors of test/fixtures/golden/notebook-data
                           (pandas split, PIL decode, x / 255 in CHW, no normalisation) from the
                           default model, levels 4 and 2 at 64 pixels: float32 rows in base64

Features come from PyTorch (infra/export_model.py's build_backbone, the weights the committed
model was exported from) when torch is importable, otherwise from onnxruntime running the
committed models/efficientnet-lite0.onnx: the engine is recorded in the file. `npm run
test:fidelity` regenerates both with torch and pandas and compares them with the committed ones.
"""

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench" / "reference"))
from pandas_split import main as pandas_split  # noqa: E402

NOTEBOOK_DATA = ROOT / "test" / "fixtures" / "golden" / "notebook-data"
DEFAULT_MODEL = ROOT / "models" / "efficientnet-lite0.onnx"
IMG_SIZE = 64
LEVELS = [4, 2]
SEED = 42


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_case(case_dir, val_samples, seed):
    out = case_dir / "pandas"
    try:
        pandas_split([str(case_dir / "train.csv"), str(out), str(val_samples), str(seed)])
    except ValueError as error:
        return {"error": str(error)}
    result = {}
    for name in ["training.csv", "validation.csv"]:
        text = (out / name).read_bytes()
        result[name] = {"sha256": hashlib.sha256(text).hexdigest(), "lines": text.count(b"\n")}
    # validation.csv holds valSamples rows per group, in group order: its third field is the class.
    lines = (out / "validation.csv").read_text(encoding="utf-8").splitlines()[1:]
    if len(lines) <= 50:
        result["validationClasses"] = [line.split(",")[2] for line in lines]
    return result


def split_goldens(inputs):
    cases = json.loads((inputs / "split" / "cases.json").read_text())
    return {c["name"]: split_case(inputs / "split" / c["name"], c["valSamples"], c["seed"]) for c in cases}


def notebook_images():
    """The notebook's split and decoding: (image_id, target, float32 CHW / 255) of the training rows."""
    data_df = pd.read_csv(NOTEBOOK_DATA / "train.csv")
    val_df = data_df.groupby("hotel_id").sample(1, random_state=SEED)
    train_df = data_df[~data_df["image_id"].isin(val_df["image_id"])]
    for _, record in train_df.iterrows():
        image = np.array(Image.open(NOTEBOOK_DATA / "images" / record["image_id"])).astype(np.uint8)
        yield record["image_id"], int(record["hotel_id"]), (image.astype(np.float32) / 255).transpose(2, 0, 1).copy()


def torch_levels():
    import torch

    sys.path.insert(0, str(ROOT / "infra"))
    from export_model import build_backbone

    torch.manual_seed(0)
    extractor, _, _, _ = build_backbone("efficientnet-lite0", False, False, IMG_SIZE)

    def run(chw):
        with torch.no_grad():
            levels = extractor(torch.from_numpy(chw[None]))
        return {level: levels[level].cpu().numpy()[0] for level in LEVELS}

    return "torch " + torch.__version__, run


def onnxruntime_levels():
    import onnxruntime as ort

    session = ort.InferenceSession(str(DEFAULT_MODEL), providers=["CPUExecutionProvider"])
    names = [f"level_{level}" for level in LEVELS]

    def run(chw):
        outputs = session.run(names, {session.get_inputs()[0].name: chw[None]})
        return {level: output[0] for level, output in zip(LEVELS, outputs)}

    return "onnxruntime " + ort.__version__, run


def feature_goldens(engine):
    if engine == "auto":
        try:
            import torch  # noqa: F401

            engine = "torch"
        except ImportError:
            engine = "onnxruntime"
    described, run = torch_levels() if engine == "torch" else onnxruntime_levels()
    levels = {str(level): {"rows": []} for level in LEVELS}
    for image_id, target, chw in notebook_images():
        for level, features in run(chw).items():
            levels[str(level)]["channels"] = int(features.shape[0])
            # The notebook's row order within an image: x over the height axis, then y.
            for x in range(features.shape[1]):
                for y in range(features.shape[2]):
                    vector = features[:, x, y].astype(np.float32).tobytes()
                    levels[str(level)]["rows"].append(
                        {"file": image_id, "target": target, "x": x, "y": y,
                         "vector": base64.b64encode(vector).decode("ascii")})
    return {"engine": described, "model": DEFAULT_MODEL.name, "modelSha256": sha256(DEFAULT_MODEL),
            "imgSize": IMG_SIZE, "seed": SEED, "valSamples": 1, "levels": levels}


def write_json(path, value):
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--features-engine", choices=["auto", "torch", "onnxruntime"], default="auto")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "split-pandas.json",
               {"pandas": pd.__version__, "cases": split_goldens(args.inputs)})
    write_json(args.out / "notebook-features.json", feature_goldens(args.features_engine))
    print(f"make_golden: wrote {args.out}/split-pandas.json and notebook-features.json")


if __name__ == "__main__":
    main(sys.argv[1:])
