"""Makes parity goldens by running the authors' AVBERT model code (an offline developer tool; see scripts/make-goldens.sh).

For every case of CASES: the authors' default config with the case's overrides, their AVBert model built from it,
every parameter and buffer randomised (BatchNorm statistics and affine terms included, so that no residual branch is
silently zero), eval mode, one forward on random inputs. Writes per case, in the layout of docs/PARITY.md:
  NAME.config.yaml      their full config (yacs-style YAML)
  NAME.pyth             torch.save({"state_dict": {"avbert." + key: tensor}, "epoch": 0})
  NAME.io.safetensors   input.visual [B,T,3,F,H,W] / input.audio [B,T,1,FREQ,TIME] and the output.* tensors the model has
and index.json (case, overrides, shapes, parameter count, the authors' commit).
"""
import argparse
import copy
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import yaml

# The model every case starts from: tiny sizes (width 1, ResNet-18 depth with bottleneck blocks, 16×16 crops, D = 16),
# the released checkpoint's settings otherwise.
BASE = {
    "RESNET.WIDTH_PER_GROUP": 1,
    "RESNET.DEPTH": 18,
    "RESNET.NUM_BLOCK_TEMP_KERNEL": [[2], [2], [1], [2]],
    "AUDIO_RESNET.WIDTH_PER_GROUP": 1,
    "AUDIO_RESNET.DEPTH": 18,
    "DATA.NUM_FRAMES": 4,
    "DATA.CROP_SIZE": 16,
    "DATA.AUDIO_FREQUENCY": 32,
    "DATA.AUDIO_TIME": 32,
    "MODEL.POOLING": True,
    "MODEL.TASK": "MultimodalSequenceClassify",
    "MODEL.DOWNSTREAM_FUSION": "concat",
    "TRANSFORMER.HIDDEN_SIZE": 16,
    "TRANSFORMER.NUM_ATTENTION_HEADS": 2,
    "TRANSFORMER.INTERMEDIATE_SIZE": 32,
    "TRANSFORMER.NUM_HIDDEN_LAYERS": 2,
    "TRANSFORMER.ORTHOGONAL_SIZE": 4,
}

DEPTH = {"RESNET.NUM_BLOCK_TEMP_KERNEL": [[3], [4], [6], [3]]}

# name: (overrides of BASE, B, T); input sizes follow DATA.NUM_FRAMES / CROP_SIZE / AUDIO_FREQUENCY / AUDIO_TIME.
CASES = {
    "mid-partial": ({}, 2, 2),
    "mid-all": ({"TRANSFORMER.USE_DECOMPOSITION": False}, 2, 2),
    "mid-lowrank": ({"TRANSFORMER.SHARING_ACROSS_MODELS": False}, 2, 2),
    "mid-none-bert": ({"TRANSFORMER.SHARING_ACROSS_MODELS": False, "TRANSFORMER.USE_DECOMPOSITION": False,
                       "TRANSFORMER.SHARING_ACROSS_LAYERS": False}, 2, 2),
    "mid-partial-bert": ({"TRANSFORMER.SHARING_ACROSS_LAYERS": False}, 2, 2),
    "early": ({"MODEL.FUSION": "early", "TRANSFORMER.USE_DECOMPOSITION": False}, 2, 2),
    "late-partial": ({"MODEL.FUSION": "late"}, 2, 2),
    "late-none": ({"MODEL.FUSION": "late", "TRANSFORMER.SHARING_ACROSS_MODELS": False,
                   "TRANSFORMER.USE_DECOMPOSITION": False}, 2, 2),
    "cayley": ({"TRANSFORMER.ORTHOGONAL_MODE": "cayley"}, 2, 2),
    "dtriv": ({"TRANSFORMER.ORTHOGONAL_MODE": "dtriv"}, 2, 2),
    "henaff-gelu-new": ({"TRANSFORMER.ORTHOGONAL_INIT": "henaff", "TRANSFORMER.HIDDEN_ACT": "gelu_new"}, 2, 2),
    "albert-groups": ({"TRANSFORMER.NUM_HIDDEN_LAYERS": 4, "TRANSFORMER.NUM_HIDDEN_GROUPS": 2,
                       "TRANSFORMER.INNER_GROUP_NUM": 2}, 2, 2),
    "bottleneck50": ({"RESNET.DEPTH": 50, "AUDIO_RESNET.DEPTH": 50, **DEPTH}, 1, 2),
    "basic18": ({"RESNET.TRANS_FUNC": "basic_transform", "AUDIO_RESNET.TRANS_FUNC": "basic_transform"}, 2, 2),
    "basic34": ({"RESNET.DEPTH": 34, "RESNET.TRANS_FUNC": "basic_transform", "AUDIO_RESNET.DEPTH": 34,
                 "AUDIO_RESNET.TRANS_FUNC": "basic_transform", **DEPTH}, 1, 2),
    "resnext": ({"RESNET.NUM_GROUPS": 2, "AUDIO_RESNET.NUM_GROUPS": 2, "RESNET.WIDTH_PER_GROUP": 2,
                 "AUDIO_RESNET.WIDTH_PER_GROUP": 2}, 1, 2),
    # Stage 5 at stride 1, dilated: a 3×3 map under a 2×2 pooling window (ceil(48 / 32)), so the head pools then averages.
    "dilated": ({"RESNET.SPATIAL_STRIDES": [[1], [2], [2], [1]], "RESNET.SPATIAL_DILATIONS": [[1], [1], [1], [2]],
                 "AUDIO_RESNET.DILATIONS": [1, 1, 2, 2], "DATA.NUM_FRAMES": 2, "DATA.CROP_SIZE": 48}, 1, 2),
    # 7 frames: a 4-step map under a 3-step window (7 // 2); log-mel 40×50 (maps 3×4).
    "odd-sizes": ({"DATA.NUM_FRAMES": 7, "DATA.AUDIO_FREQUENCY": 40, "DATA.AUDIO_TIME": 50}, 1, 2),
    "mean-bos": ({"TRANSFORMER.USE_MEAN_POOLING": True, "DATA.SEQUENCE_LENGTH": 3}, 1, 3),
    "visual-only": ({"MODEL.ARCH": "visual", "MODEL.FUSION": "late"}, 2, 2),
    "audio-only": ({"MODEL.ARCH": "audio", "MODEL.FUSION": "late", "TRANSFORMER.SHARING_ACROSS_MODELS": False}, 2, 2),
}

STUBS = {
    # fvcore: their config.py and models/build.py import CfgNode and Registry; utils/weight_init_helper.py (imported by
    # models/__init__.py) imports c2_msra_fill. Minimal stand-ins with the behaviour the model code uses.
    "fvcore/__init__.py": "",
    "fvcore/common/__init__.py": "",
    "fvcore/common/config.py": '''
import copy
class CfgNode(dict):
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)
    def __setattr__(self, name, value):
        self[name] = value
    def clone(self):
        return copy.deepcopy(self)
''',
    "fvcore/common/registry.py": '''
class Registry:
    def __init__(self, name):
        self._name, self._obj = name, {}
    def register(self, obj=None):
        def deco(o):
            self._obj[o.__name__] = o
            return o
        return deco if obj is None else deco(obj)
    def get(self, name):
        return self._obj[name]
''',
    "fvcore/nn/__init__.py": "",
    "fvcore/nn/weight_init.py": "def c2_msra_fill(module):\n    raise NotImplementedError('not needed to build the backbone')\n",
}


def write_stubs(root, stubs=STUBS):
    for rel, text in stubs.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def set_key(cfg, dotted, value):
    section, key = dotted.split(".")
    assert key in cfg[section], f"{dotted} is not a key of the authors' config"
    cfg[section][key] = value


def plain(node):
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [plain(v) for v in node]
    return node


def randomise(model, gen):
    """Every parameter and buffer to random values (the fixed sinusoid table and the cached Σ aside)."""
    from models.expRNN.parametrization import Parametrization

    def normal(t, std):
        t.copy_(torch.randn(t.shape, generator=gen) * std)

    def uniform(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=gen) * (hi - lo) + lo)

    done = set()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                fan_in = m.weight[0].numel()
                normal(m.weight, math.sqrt(2.0 / fan_in))
                done.add(id(m.weight))
                if m.bias is not None:
                    normal(m.bias, 0.1); done.add(id(m.bias))
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
                uniform(m.weight, 0.5, 1.5); normal(m.bias, 0.2)
                normal(m.running_mean, 0.2); uniform(m.running_var, 0.5, 1.5)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))
                done.update(id(x) for x in (m.weight, m.bias, m.running_mean, m.running_var, m.num_batches_tracked))
            elif isinstance(m, nn.Linear):
                normal(m.weight, 1.0 / math.sqrt(m.in_features)); done.add(id(m.weight))
                if m.bias is not None:
                    normal(m.bias, 0.1); done.add(id(m.bias))
            elif isinstance(m, nn.LayerNorm):
                uniform(m.weight, 0.5, 1.5); normal(m.bias, 0.1)
                done.update((id(m.weight), id(m.bias)))
            elif isinstance(m, nn.Embedding):
                normal(m.weight, 0.5); done.add(id(m.weight))
            elif isinstance(m, Parametrization):
                normal(m.A, 0.3)
                q, _ = torch.linalg.qr(torch.randn(m.base.shape, generator=gen, dtype=torch.float64))
                m.base.copy_(q.float())
                m._B = None
                done.update((id(m.A), id(m.base)))
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if id(t) not in done and not name.endswith("positional_encoding.pe") and not name.endswith("._B"):
                raise SystemExit(f"not randomised: {name}")


def save_safetensors(path, tensors, metadata=None, half=lambda name: False):
    """F32 tensors (F16 for the names `half` picks); `metadata` (str → str) goes into the header."""
    header, blobs, offset = ({"__metadata__": metadata} if metadata else {}), [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().float().cpu()
        f16 = half(name)
        data = t.numpy().astype("<f2" if f16 else "<f4").tobytes()
        header[name] = {"dtype": "F16" if f16 else "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def make_case(name, overrides, B, T, defaults, out, seed):
    from models.avbert import AVBert

    cfg = defaults.clone()
    for k, v in {**BASE, **overrides}.items():
        set_key(cfg, k, v)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = AVBert(cfg)
    randomise(model, gen)
    model.eval()
    dtriv = cfg.TRANSFORMER.ORTHOGONAL_MODE == "dtriv"
    # dtriv re-bases (base <- B, A <- 0) the first time B is computed: save the state it starts from.
    state_before = copy.deepcopy(model.state_dict()) if dtriv else None

    F, S = cfg.DATA.NUM_FRAMES, cfg.DATA.CROP_SIZE
    io = {}
    visual = audio = None
    if "visual" in cfg.MODEL.ARCH:
        visual = torch.randn((B, T, 3, F, S, S), generator=gen)
        io["input.visual"] = visual
    if "audio" in cfg.MODEL.ARCH:
        audio = torch.randn((B, T, 1, cfg.DATA.AUDIO_FREQUENCY, cfg.DATA.AUDIO_TIME), generator=gen)
        io["input.audio"] = audio
    with torch.no_grad():
        if visual is not None:
            fmap = model.visual_conv.get_feature_map([visual.view(B * T, 3, F, S, S)])
            io["output.visual_pooled"] = model.visual_conv.get_logit(fmap).view(B, T, -1)
        if audio is not None:
            fmap = model.audio_conv.get_feature_map(audio.view(B * T, *audio.shape[2:]))
            io["output.audio_pooled"] = model.audio_conv.get_logit(fmap).view(B, T, -1)
        _, single, multi = model([visual] if visual is not None else None, audio)
    if cfg.MODEL.FUSION != "early":
        for modality, y in zip(model.idx2modality, single):
            io[f"output.{modality}_transformer"] = y
    if multi is not None:
        io["output.multimodal_transformer"] = multi

    state = state_before if dtriv else model.state_dict()
    torch.save({"state_dict": {"avbert." + k: v for k, v in state.items()}, "epoch": 0}, os.path.join(out, name + ".pyth"))
    with open(os.path.join(out, name + ".config.yaml"), "w") as f:
        yaml.safe_dump(plain(cfg), f, default_flow_style=False)
    save_safetensors(os.path.join(out, name + ".io.safetensors"), io)
    n_params = sum(p.numel() for p in model.parameters())
    return {"name": name, "seed": seed, "B": B, "T": T, "overrides": overrides, "n_params": n_params,
            "tensors": {k: list(v.shape) for k, v in sorted(io.items())}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--code", required=True, help="the authors' code/ folder (a scratch copy)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("cases", nargs="*", help="case names (default: all)")
    args = ap.parse_args()
    stubs = os.path.join(os.path.dirname(os.path.abspath(args.code)), "stubs")
    write_stubs(stubs)
    sys.path[:0] = [stubs, args.code]
    torch.set_num_threads(1)
    # torch.solve(B, A) (their expm and Cayley map) was removed in PyTorch 1.13: the same solve of A X = B.
    torch.solve = lambda b, a: (torch.linalg.solve(a, b), None)
    import config as their_config

    index_path = os.path.join(args.out, "index.json")
    index = {"commit": args.commit, "torch": torch.__version__, "base": BASE, "cases": {}}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index["cases"] = json.load(f).get("cases", {})
    names = args.cases or list(CASES)
    for i, name in enumerate(names):
        overrides, B, T = CASES[name]
        entry = make_case(name, overrides, B, T, their_config._C, args.out, seed=1000 + list(CASES).index(name))
        index["cases"][name] = entry
        print(f"{name}: {entry['n_params']} parameters, " + ", ".join(f"{k} {v}" for k, v in entry["tensors"].items()))
    index["cases"] = {k: index["cases"][k] for k in CASES if k in index["cases"]}
    with open(index_path, "w") as f:
        json.dump(index, f, indent=1)


if __name__ == "__main__":
    main()
