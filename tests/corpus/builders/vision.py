"""Vision models, written here in the shape of the well-known architectures (torchvision is not
installable beside this torch), plus a tiny transformers ViT.

Each keeps the operators that make its family what it is (hardswish and squeeze-excite
for MobileNetV3, SiLU and depthwise for EfficientNet, LayerNorm/GELU and 7x7 depthwise
for ConvNeXt, ConvTranspose/Resize/Concat for U-Net, TopK/Gather for a detection
head), at 32-64 pixel inputs so that every model stays small and fast.
"""

from __future__ import annotations

from pathlib import Path

from tests.corpus.builders.common import Arrays, seed_torch, torch_export


def _image(batch: int, size: int, channels: int = 3):
    import torch

    return torch.randn(batch, channels, size, size)


def _layers():
    """The building blocks, defined inside a function so that importing this module needs no torch."""
    import torch
    from torch import nn

    class SqueezeExcite(nn.Module):
        def __init__(self, ch: int, squeeze: int, gate: type[nn.Module]):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc1, self.fc2 = nn.Conv2d(ch, squeeze, 1), nn.Conv2d(squeeze, ch, 1)
            self.act, self.gate = nn.ReLU() if gate is nn.Hardsigmoid else nn.SiLU(), gate()

        def forward(self, x):
            return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))

    class InvertedResidual(nn.Module):
        """MobileNetV3 / EfficientNet MBConv: expand 1x1, depthwise kxk, SE, project 1x1."""

        def __init__(self, cin: int, cexp: int, cout: int, k: int, stride: int, act: type[nn.Module],
                     gate: type[nn.Module]):
            super().__init__()
            self.block = nn.Sequential(
                nn.Conv2d(cin, cexp, 1, bias=False), nn.BatchNorm2d(cexp), act(),
                nn.Conv2d(cexp, cexp, k, stride, k // 2, groups=cexp, bias=False), nn.BatchNorm2d(cexp), act(),
                SqueezeExcite(cexp, max(cexp // 4, 8), gate),
                nn.Conv2d(cexp, cout, 1, bias=False), nn.BatchNorm2d(cout))
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            y = self.block(x)
            return x + y if self.residual else y

    class LayerNorm2d(nn.LayerNorm):
        """ConvNeXt's channels-first LayerNorm: permute, normalize the last axis, permute back."""

        def forward(self, x):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    class ConvNeXtBlock(nn.Module):
        def __init__(self, dim: int):
            super().__init__()
            self.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            self.pw1, self.pw2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
            self.act = nn.GELU()
            self.gamma = nn.Parameter(torch.full((dim,), 0.5))

        def forward(self, x):
            y = self.dw(x).permute(0, 2, 3, 1)
            y = self.gamma * self.pw2(self.act(self.pw1(self.norm(y))))
            return x + y.permute(0, 3, 1, 2)

    return SqueezeExcite, InvertedResidual, LayerNorm2d, ConvNeXtBlock


def _randomize_batchnorm(model) -> None:
    """Give every BatchNorm non-trivial running statistics, as a trained model has."""
    import torch

    with torch.no_grad():
        for m in model.modules():
            if not isinstance(m, torch.nn.BatchNorm2d):
                continue
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)


def mobilenet_v3(out_dir: Path, exporter: str, opset: int = 17) -> tuple[Arrays, Arrays]:
    """MobileNetV3-Small-shaped: hardswish stem, inverted residuals with SE (hardsigmoid gate), classifier."""
    from torch import nn

    _, block, _, _ = _layers()
    seed_torch(10)
    hs, relu, hsig = nn.Hardswish, nn.ReLU, nn.Hardsigmoid
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), hs(),
        block(16, 16, 16, 3, 2, relu, hsig),
        block(16, 48, 24, 3, 2, relu, hsig),
        block(24, 64, 24, 3, 1, relu, hsig),
        block(24, 96, 40, 5, 2, hs, hsig),
        block(40, 120, 40, 5, 1, hs, hsig),
        nn.Conv2d(40, 96, 1, bias=False), nn.BatchNorm2d(96), hs(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(96, 128), hs(), nn.Dropout(0.2), nn.Linear(128, 10))
    _randomize_batchnorm(model)
    return torch_export(model, (_image(1, 64),), out_dir, exporter=exporter, input_names=["image"],
                        output_names=["logits"], opset=opset)


def efficientnet(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """EfficientNet-B0-shaped at batch 2: SiLU, MBConv with depthwise and SE (sigmoid gate)."""
    from torch import nn

    _, block, _, _ = _layers()
    seed_torch(11)
    silu, sig = nn.SiLU, nn.Sigmoid
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), silu(),
        block(16, 16, 8, 3, 1, silu, sig),
        block(8, 48, 16, 3, 2, silu, sig),
        block(16, 64, 16, 3, 1, silu, sig),
        block(16, 64, 24, 5, 2, silu, sig),
        nn.Conv2d(24, 64, 1, bias=False), nn.BatchNorm2d(64), silu(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, 10))
    _randomize_batchnorm(model)
    return torch_export(model, (_image(2, 48),), out_dir, exporter=exporter, input_names=["image"],
                        output_names=["logits"])


def convnext(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """ConvNeXt-shaped: patchify stem, blocks of 7x7 depthwise + LayerNorm + GELU MLP, downsampling."""
    from torch import nn

    _, _, norm2d, block = _layers()
    seed_torch(12)
    model = nn.Sequential(
        nn.Conv2d(3, 24, 4, 4), norm2d(24, eps=1e-6),
        block(24), block(24),
        norm2d(24, eps=1e-6), nn.Conv2d(24, 48, 2, 2),
        block(48),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(48), nn.Linear(48, 10))
    return torch_export(model, (_image(1, 64),), out_dir, exporter=exporter, input_names=["image"],
                        output_names=["logits"])


def resnet(out_dir: Path, exporter: str, external: bool = False, dynamic: bool = False) -> tuple[Arrays, Arrays]:
    """ResNet-shaped at batch 2: 7x7 stem, max pool, basic blocks with a strided shortcut, flatten + linear;
    ``dynamic``: a symbolic batch axis, fed at batch 3 (traced at 2)."""
    from torch import nn

    seed_torch(13)

    class Basic(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                                      nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(cout))
            self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                          if stride != 1 or cin != cout else nn.Identity())
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.relu(self.body(x) + self.short(x))

    model = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                          nn.MaxPool2d(3, 2, 1), Basic(16, 16, 1), Basic(16, 32, 2), Basic(32, 64, 2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(64, 10))
    _randomize_batchnorm(model)
    axes = {"image": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
    traced = (_image(2, 64),)
    return torch_export(model, traced, out_dir, exporter=exporter, input_names=["image"],
                        output_names=["logits"], external=external, dynamic_axes=axes,
                        run_args=(_image(3, 64),) if dynamic else traced)


def unet(out_dir: Path, exporter: str, opset: int = 17) -> tuple[Arrays, Arrays]:
    """A 2-level U-Net: max-pool encoder, ConvTranspose and bilinear Resize decoders, skip Concats."""
    import torch
    from torch import nn

    seed_torch(14)

    def double(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU())

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1, self.enc2, self.mid = double(3, 8), double(8, 16), double(16, 32)
            self.pool = nn.MaxPool2d(2)
            self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
            self.dec2 = double(32, 16)
            self.dec1 = double(16 + 8, 8)
            self.head = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool(e1))
            m = self.mid(self.pool(e2))
            d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))
            up1 = nn.functional.interpolate(d2, scale_factor=2.0, mode="bilinear", align_corners=False)
            return self.head(self.dec1(torch.cat([up1, e1], dim=1)))

    model = UNet()
    _randomize_batchnorm(model)
    return torch_export(model, (_image(1, 32),), out_dir, exporter=exporter, input_names=["image"],
                        output_names=["mask"], opset=opset)


def detect_topk(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """An anchor-free detection head: conv features, per-cell scores and boxes, TopK of the scores,
    Gather of their boxes and classes (the post-processing users export with the model)."""
    import torch
    from torch import nn

    seed_torch(15)

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU())
            self.cls = nn.Conv2d(32, 4, 1)
            self.box = nn.Conv2d(32, 4, 1)

        def forward(self, x):
            f = self.body(x)
            scores = torch.sigmoid(self.cls(f)).flatten(2).transpose(1, 2)[0]   # [cells, classes]
            boxes = self.box(f).flatten(2).transpose(1, 2)[0]                 # [cells, 4]
            best, cls = scores.max(dim=1)
            top, idx = torch.topk(best, 10)
            return top, torch.gather(cls, 0, idx), boxes[idx]

    return torch_export(Head(), (_image(1, 32),), out_dir, exporter=exporter, input_names=["image"],
                        output_names=["scores", "classes", "boxes"])


def vit(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """transformers ViTModel, 2 layers of width 32 on 32x32 images in 8x8 patches, at batch 2."""
    import transformers

    seed_torch(16)
    config = transformers.ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32,
                                    num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    model = transformers.ViTModel(config)
    return torch_export(_hf_features(model, pooled=True), (_image(2, 32),), out_dir, exporter=exporter, input_names=["pixel_values"],
                        output_names=["last_hidden_state", "pooler_output"])


def _hf_features(model, pooled: bool):
    """A module returning the model's last hidden state (and pooled output) from pixel values."""
    import torch

    class Features(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, pixel_values):
            out = self.model(pixel_values=pixel_values)
            return (out.last_hidden_state, out.pooler_output) if pooled else out.last_hidden_state

    return Features()


def mobilevit(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """transformers MobileViTModel, tiny: MobileNetV2 blocks, then unfold-to-patches attention and fold
    back (the reshape/transpose chains converters find hardest)."""
    import torch
    import transformers

    seed_torch(17)
    config = transformers.MobileViTConfig(image_size=64, patch_size=2, hidden_sizes=[16, 24, 32],
                                          neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 48], num_attention_heads=2,
                                          mlp_ratio=2.0, expand_ratio=2.0)
    model = transformers.MobileViTModel(config)
    # transformers initialises MobileViT's convolutions at std 0.02: at random init every stage
    # shrinks activations 1e-12-fold and the output is exactly 0 (an oracle any engine would
    # match). He initialisation and trained-looking BatchNorm statistics keep them alive.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
    _randomize_batchnorm(model)
    return torch_export(_hf_features(model, pooled=True), (_image(1, 64),),
                        out_dir, exporter=exporter, input_names=["pixel_values"],
                        output_names=["last_hidden_state", "pooler_output"])


def swin(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """transformers SwinModel, tiny: shifted windows (roll, window partition reshapes), patch merging."""
    import transformers

    seed_torch(18)
    config = transformers.SwinConfig(image_size=32, patch_size=2, embed_dim=16, depths=[2, 1], num_heads=[2, 4],
                                     window_size=4, mlp_ratio=2.0)
    return torch_export(_hf_features(transformers.SwinModel(config), pooled=True), (_image(1, 32),), out_dir,
                        exporter=exporter, input_names=["pixel_values"],
                        output_names=["last_hidden_state", "pooler_output"])


def yolo(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """A YOLO-style detector: SiLU conv backbone with a C2f-like Split/Concat block, nearest Upsample and
    Concat in the neck, and the decode users export with it (sigmoid, grid offsets, stride scaling)."""
    import torch
    from torch import nn

    seed_torch(19)

    def conv(cin: int, cout: int, k: int = 3, s: int = 1) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU())

    class C2f(nn.Module):
        def __init__(self, ch: int):
            super().__init__()
            self.cv1, self.m, self.cv2 = conv(ch, ch, 1), conv(ch // 2, ch // 2), conv(ch + ch // 2, ch, 1)

        def forward(self, x):
            a, b = self.cv1(x).chunk(2, dim=1)
            return self.cv2(torch.cat([a, b, self.m(b)], dim=1))

    class Yolo(nn.Module):
        def __init__(self):
            super().__init__()
            self.p3 = nn.Sequential(conv(3, 16, 3, 2), conv(16, 16, 3, 2), C2f(16), conv(16, 32, 3, 2))  # /8
            self.p4 = nn.Sequential(conv(32, 32, 3, 2), C2f(32))                                       # /16
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.fuse = C2f(64)
            self.head = nn.Conv2d(64, 4 + 1 + 3, 1)

        def forward(self, x):
            p3 = self.p3(x)
            f = self.fuse(torch.cat([self.up(self.p4(p3)), p3], dim=1))
            out = self.head(f)                                        # [N, 8, H, W]
            n, c, h, w = out.shape
            out = out.view(n, c, h * w).permute(0, 2, 1)               # [N, HW, 8]
            ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            grid = torch.stack([xs, ys], dim=-1).view(1, h * w, 2).to(out.dtype)
            xy = (out[..., :2].sigmoid() * 2 - 0.5 + grid) * 8.0
            wh = (out[..., 2:4].sigmoid() * 2) ** 2 * 8.0
            return torch.cat([xy, wh, out[..., 4:].sigmoid()], dim=-1)

    model = Yolo()
    _randomize_batchnorm(model)
    return torch_export(model, (_image(1, 64),), out_dir, exporter=exporter, input_names=["images"],
                        output_names=["detections"])


def espcn(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """ESPCN super-resolution (x3) on a luma channel: tanh convs, then PixelShuffle (DepthToSpace)."""
    from torch import nn

    seed_torch(22)
    model = nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.Tanh(), nn.Conv2d(16, 8, 3, padding=1), nn.Tanh(),
                          nn.Conv2d(8, 9, 3, padding=1), nn.PixelShuffle(3), nn.Sigmoid())
    return torch_export(model, (_image(2, 24, channels=1),), out_dir, exporter=exporter, input_names=["luma"],
                        output_names=["upscaled"])
