"""Export a timm backbone to ONNX with every `features_only` level as a named output.

Outputs are named `level_0` … `level_N` (finest to coarsest, as timm returns them); the batch
axis and the spatial input axes are dynamic so one file serves any batch size and imgSize.
A JSON sidecar (`<out>.json`) records the backbone, weights and per-level channels/reduction.

    .venv-py/bin/python infra/export_model.py --backbone efficientnet_b0 --out models/efficientnet_b0.onnx
"""

import argparse
import json
import sys
from pathlib import Path

import torch
import timm


class FeatureLevels(torch.nn.Module):
    """Returns the feature pyramid as a tuple, which the ONNX exporter maps to named outputs."""

    def __init__(self, backbone: torch.nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, images: torch.Tensor):
        return tuple(self.backbone(images))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_b0", help="timm model name")
    parser.add_argument("--out", required=True, type=Path, help="ONNX file to write")
    parser.add_argument("--img-size", type=int, default=256, help="example input size used for tracing")
    parser.add_argument("--pretrained", action="store_true",
                        help="load pretrained weights (needs a reachable model hub)")
    parser.add_argument("--seed", type=int, default=0, help="seed for random weights (reproducible files)")
    parser.add_argument("--opset", type=int, default=17)
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    backbone = timm.create_model(args.backbone, pretrained=args.pretrained, features_only=True)
    backbone.eval()
    model = FeatureLevels(backbone).eval()
    levels = len(backbone.feature_info)
    output_names = [f"level_{k}" for k in range(levels)]
    example = torch.rand(1, 3, args.img_size, args.img_size)
    dynamic_axes = {"images": {0: "batch", 2: "height", 3: "width"}}
    dynamic_axes.update({name: {0: "batch", 2: f"{name}_h", 3: f"{name}_w"} for name in output_names})

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    with torch.no_grad():
        # The TorchScript exporter (dynamo=False) writes a single self-contained file and
        # honours dynamic_axes exactly; the dynamo exporter may split weights into a side file.
        torch.onnx.export(model, (example,), str(tmp), input_names=["images"], output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=args.opset, dynamo=False)
    tmp.replace(args.out)

    info = {
        "backbone": args.backbone,
        "weights": "pretrained" if args.pretrained else f"random (torch seed {args.seed})",
        "input": "images",
        "outputs": [
            {"name": name, "channels": int(ch), "reduction": int(red)}
            for name, ch, red in zip(output_names, backbone.feature_info.channels(),
                                     backbone.feature_info.reduction())
        ],
    }
    Path(str(args.out) + ".json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"exported {args.backbone} ({info['weights']}) to {args.out}: "
          + ", ".join(f"{o['name']}={o['channels']}ch/{o['reduction']}" for o in info["outputs"]))


if __name__ == "__main__":
    main(sys.argv[1:])
