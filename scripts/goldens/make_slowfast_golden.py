"""Makes the SlowFast parity golden by running PySlowFast's own model code (an offline developer tool; see
scripts/make-slowfast-golden.sh and docs/PARITY.md).

Their SlowFast (MODEL.ARCH slowfast, RESNET.DEPTH 50) is built from their default config with the tiny overrides of
TINY, every parameter and buffer randomised (BatchNorm statistics and affine terms included), eval mode, one forward
up to the head's pooled feature on a random clip. Writes (to tests/AvBert.Tests/Goldens/ by default):
  slowfast-r50.safetensors  input.clip [N,3,F,S,S] (the fast pathway's frames; the slow pathway is their
                            PackPathway of it), output.pooled [N, C_slow + C_fast] (their head's per-pathway average
                            pools, concatenated, before the projection) and every parameter and buffer as
                            state.<our name> (F16: randomised to float16 values; num_batches_tracked and
                            their classification head left out); metadata: their commit, the config, the counts
and prints their model's parameter count at the full R50 size (400-class head) and at the tiny size.
"""
import argparse
import json
import math
import os
import re
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_goldens  # noqa: E402  (its fvcore stand-ins and safetensors writer)

# Tiny SlowFast-R50: slow width 2, β⁻¹ 2 (fast width 1), α 2, fusion kernel 5 (their default) and channel ratio 2;
# one clip of 4 frames at 32×32 (the slow pathway gets frames 0 and 3), so that their head's pooling windows
# ([F/α, S/32, S/32] and [F, S/32, S/32]) cover the whole maps.
TINY = {
    "RESNET.WIDTH_PER_GROUP": 2,
    "RESNET.DEPTH": 50,
    "SLOWFAST.BETA_INV": 2,
    "SLOWFAST.ALPHA": 2,
    "SLOWFAST.FUSION_CONV_CHANNEL_RATIO": 2,
    "SLOWFAST.FUSION_KERNEL_SZ": 5,
    "DATA.NUM_FRAMES": 4,
    "DATA.TRAIN_CROP_SIZE": 32,
    "MODEL.NUM_CLASSES": 3,
}
N = 1

STUBS = {
    **{k: v for k, v in make_goldens.STUBS.items() if k.startswith("fvcore/common/") or k == "fvcore/__init__.py"},
    # Their package __init__ files import the data, training and environment code (iopath, simplejson, pytorchvideo
    # models); the model code needs none of it. Empty package files, a plain logger and stand-ins for the names the
    # model modules import but a SlowFast-R50 does not use (NaiveSyncBatchNorm, Swish, ROIAlign) or uses only at init
    # (c2_msra_fill: the weights are randomised afterwards anyway).
    "slowfast/__init__.py": "",
    "slowfast/models/__init__.py": "",
    "slowfast/utils/logging.py": "import logging\ndef get_logger(name):\n    return logging.getLogger(name)\n",
    "fvcore/nn/__init__.py": "",
    "fvcore/nn/weight_init.py": '''
import torch.nn as nn
def c2_msra_fill(m):
    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    if m.bias is not None:
        nn.init.constant_(m.bias, 0)
def c2_xavier_fill(m):
    nn.init.kaiming_uniform_(m.weight, a=1)
    if m.bias is not None:
        nn.init.constant_(m.bias, 0)
''',
    "pytorchvideo/__init__.py": "",
    "pytorchvideo/layers/__init__.py": "",
    "pytorchvideo/layers/batch_norm.py": "NaiveSyncBatchNorm1d = NaiveSyncBatchNorm3d = None\n",
    "pytorchvideo/layers/swish.py": "import torch.nn as nn\nclass Swish(nn.Module):\n    pass\n",
    "detectron2/__init__.py": "",
    "detectron2/layers/__init__.py": "ROIAlign = None\n",
}


# The model keys of their configs/Kinetics/SLOWFAST_4x16_R50.yaml (the two-pathway lists their defaults lack).
SLOWFAST_4x16_R50 = {
    "MODEL.ARCH": "slowfast",
    "MODEL.MODEL_NAME": "SlowFast",
    "DATA.INPUT_CHANNEL_NUM": [3, 3],
    "RESNET.NUM_BLOCK_TEMP_KERNEL": [[3, 3], [4, 4], [6, 6], [3, 3]],
    "RESNET.SPATIAL_STRIDES": [[1, 1], [2, 2], [2, 2], [2, 2]],
    "RESNET.SPATIAL_DILATIONS": [[1, 1], [1, 1], [1, 1], [1, 1]],
    "NONLOCAL.LOCATION": [[[], []], [[], []], [[], []], [[], []]],
    "NONLOCAL.GROUP": [[1, 1], [1, 1], [1, 1], [1, 1]],
}


def build(defaults, overrides):
    from slowfast.models.video_model_builder import SlowFast

    cfg = defaults.clone()
    for dotted, value in {**SLOWFAST_4x16_R50, **overrides}.items():
        section, key = dotted.split(".")
        assert key in cfg[section], f"{dotted} is not a key of their config"
        cfg[section][key] = value
    return cfg, SlowFast(cfg)


def our_name(theirs):
    """Their state-dict key → ours (src/AvBert/Model/VisualSlowFast.cs)."""
    pathway = {"0": "slow", "1": "fast"}
    m = re.fullmatch(r"s1\.pathway(\d)_stem\.(conv|bn)\.(.+)", theirs)
    if m:
        return f"{pathway[m[1]]}_stem.{m[2]}.{m[3]}"
    m = re.fullmatch(r"s(\d)_fuse\.(conv_f2s|bn)\.(.+)", theirs)
    if m:
        return f"fuse{int(m[1]) - 1}.{'conv' if m[2] == 'conv_f2s' else 'bn'}.{m[3]}"
    m = re.fullmatch(r"s(\d)\.pathway(\d)_res(\d+)\.(.+)", theirs)
    if m:
        rest = {"branch1": "shortcut_conv", "branch1_bn": "shortcut_bn"}.get(m[4].rsplit(".", 1)[0])
        if rest is not None:
            tail = f"{rest}.{m[4].rsplit('.', 1)[1]}"
        else:
            part, tensor = re.fullmatch(r"branch2\.(a|b|c|a_bn|b_bn|c_bn)\.(.+)", m[4]).groups()
            tail = {"a": "conv1", "b": "conv2", "c": "conv3", "a_bn": "bn1", "b_bn": "bn2", "c_bn": "bn3"}[part] + "." + tensor
        return f"{pathway[m[2]]}_stage{int(m[1]) - 1}.{m[3]}.{tail}"
    return None


def randomise(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv3d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * math.sqrt(2.0 / m.weight[0].numel()))
            elif isinstance(m, nn.BatchNorm3d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.2)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) / math.sqrt(m.in_features))
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        # float16 values, so that the golden can store them in half the bytes without changing what the model computes.
        for t in list(model.parameters()) + [b for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")]:
            t.copy_(t.half().float())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--code", required=True, help="a scratch copy of their repository's slowfast/ folder's parent")
    ap.add_argument("--out", required=True)
    ap.add_argument("--commit", default="unknown")
    args = ap.parse_args()
    make_goldens.write_stubs(args.code, STUBS)
    sys.path.insert(0, args.code)
    torch.set_num_threads(1)
    from slowfast.config.defaults import _C

    _, full = build(_C, {"MODEL.NUM_CLASSES": 400})
    n_full = sum(p.numel() for p in full.parameters())
    print(f"their SlowFast-R50 (defaults, 400 classes): {n_full} parameters, head {sum(p.numel() for p in full.head.parameters())}")

    cfg, model = build(_C, TINY)
    gen = torch.Generator().manual_seed(7)
    randomise(model, gen)
    model.eval()
    F, S, alpha = cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE, cfg.SLOWFAST.ALPHA
    clip = torch.randn((N, 3, F, S, S), generator=gen)
    # Their PackPathway (slowfast/datasets/utils.py pack_pathway_output), on the batch's time axis.
    slow = torch.index_select(clip, 2, torch.linspace(0, F - 1, F // alpha).long())
    pooled = {}
    model.head.register_forward_hook(lambda mod, inp, out: pooled.setdefault(
        "x", torch.cat([getattr(mod, f"pathway{p}_avgpool")(inp[0][p]) for p in range(2)], 1).flatten(1)))
    with torch.no_grad():
        model([slow, clip])
    io = {"input.clip": clip, "output.pooled": pooled["x"]}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked") or k.startswith("head."):
            continue
        ours = our_name(k)
        assert ours is not None, f"no name of ours for {k}"
        io["state." + ours] = v
    n_tiny = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("head."))
    os.makedirs(args.out, exist_ok=True)
    meta = {"source": "github.com/facebookresearch/SlowFast", "commit": args.commit, "torch": torch.__version__,
            "config": json.dumps(TINY), "cnn_parameters": str(n_tiny), "full_r50_parameters_with_400_class_head": str(n_full)}
    # The state as F16 (its values are float16 numbers, see randomise), the clip and the output as F32.
    make_goldens.save_safetensors(os.path.join(args.out, "slowfast-r50.safetensors"), io, meta, half=lambda name: name.startswith("state."))
    print(f"tiny: {n_tiny} CNN parameters, pooled {list(pooled['x'].shape)}; their commit {args.commit}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
