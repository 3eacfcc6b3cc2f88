"""Hand-written torch models with the constructs users reach for outside the model zoos: scripted
control flow (Loop/If), einsum attention with scaled_dot_product_attention, and a spatial
transformer (affine_grid + grid_sample)."""

from __future__ import annotations

from pathlib import Path

from tests.corpus.builders.common import Arrays, seed_torch, torch_export


def scripted_loop(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """An Elman cell unrolled by a scripted ``for`` loop with a data-dependent ``if`` (an exponential
    moving average reset when the input's norm is large): the legacy exporter writes Loop and If.
    (The cell is written out: scripted nn.GRUCell does not export.)"""
    import torch
    from torch import nn

    seed_torch(50)

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.wx, self.wh = nn.Linear(8, 16), nn.Linear(16, 16, bias=False)
            self.out = nn.Linear(16, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.zeros(x.shape[0], 16)
            avg = torch.zeros(x.shape[0], 16)
            for t in range(x.shape[1]):
                h = torch.tanh(self.wx(x[:, t]) + self.wh(h))
                if bool(x[:, t].abs().sum() > 20.0):  # noqa: SIM108 (a statement-level if: the point)
                    avg = h
                else:
                    avg = 0.9 * avg + 0.1 * h
            return self.out(avg)

    model = torch.jit.script(Recurrent().eval())
    return torch_export(model, (torch.randn(2, 6, 8) * 1.2,), out_dir, exporter=exporter, input_names=["x"],
                        output_names=["y"])


def einsum_attention(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """A decoder block written by hand: einsum projections, rotary position embedding (sin/cos,
    rotate-half), causal scaled_dot_product_attention, RMSNorm, SwiGLU (a Llama-style block)."""
    import torch
    from torch import nn

    seed_torch(51)
    dim, heads, seq = 32, 4, 12

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Parameter(torch.randn(3, heads, dim, dim // heads) * dim ** -0.5)
            self.o = nn.Linear(dim, dim, bias=False)
            self.w1, self.w3 = nn.Linear(dim, 64, bias=False), nn.Linear(dim, 64, bias=False)
            self.w2 = nn.Linear(64, dim, bias=False)
            self.g1, self.g2 = nn.Parameter(torch.ones(dim) * 1.1), nn.Parameter(torch.ones(dim) * 0.9)
            inv = 1.0 / (10000 ** (torch.arange(0, dim // heads, 2).float() / (dim // heads)))
            ang = torch.outer(torch.arange(seq).float(), inv)
            self.register_buffer("cos", torch.cat([ang.cos(), ang.cos()], -1))
            self.register_buffer("sin", torch.cat([ang.sin(), ang.sin()], -1))

        @staticmethod
        def rms(x, g):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * g

        def rope(self, x):
            a, b = x.chunk(2, dim=-1)
            return x * self.cos + torch.cat([-b, a], dim=-1) * self.sin

        def forward(self, x):
            q, k, v = torch.einsum("bsd,chde->cbhse", self.rms(x, self.g1), self.qkv).unbind(0)
            att = nn.functional.scaled_dot_product_attention(self.rope(q), self.rope(k), v, is_causal=True)
            x = x + self.o(att.transpose(1, 2).reshape(x.shape))
            h = self.rms(x, self.g2)
            return x + self.w2(nn.functional.silu(self.w1(h)) * self.w3(h))

    return torch_export(Block(), (torch.randn(2, seq, dim),), out_dir, exporter=exporter, input_names=["x"],
                        output_names=["y"])


def spatial_transformer(out_dir: Path, exporter: str, opset: int = 20) -> tuple[Arrays, Arrays]:
    """A spatial transformer: a localisation net predicts an affine matrix, affine_grid and bilinear
    grid_sample warp the image (AffineGrid and GridSample: the legacy exporter needs opset 20), then a
    small classifier."""
    import torch
    from torch import nn

    seed_torch(52)

    class STN(nn.Module):
        def __init__(self):
            super().__init__()
            self.loc = nn.Sequential(nn.Conv2d(1, 8, 5, 2), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                     nn.Linear(32, 6))
            with torch.no_grad():
                self.loc[-1].weight.mul_(0.1)
                self.loc[-1].bias.copy_(torch.tensor([0.9, 0.1, 0.05, -0.1, 1.1, 0.0]))
            self.cls = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                     nn.Linear(8, 10))

        def forward(self, x):
            theta = self.loc(x).view(-1, 2, 3)
            grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
            warped = nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            return self.cls(warped), warped

    return torch_export(STN(), (torch.randn(2, 1, 28, 28),), out_dir, exporter=exporter, input_names=["image"],
                        output_names=["logits", "warped"], opset=opset)


def pyramid_outputs(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """A feature-pyramid backbone that returns every level (as detection and segmentation heads consume
    them) while the next level keeps reading it through elementwise ops an engine may run in place,
    plus the input itself and one level twice: outputs that alias intermediates and each other."""
    import torch
    from torch import nn

    seed_torch(53)

    class Pyramid(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.c3 = nn.Conv2d(3, 8, 3, 2, 1), nn.Conv2d(8, 16, 3, 2, 1), nn.Conv2d(16, 16, 3, 2, 1)

        def forward(self, x):
            p1 = self.c1(x)
            p2 = self.c2(torch.relu(p1) * 2.0 + 1.0)
            p3 = self.c3(torch.sigmoid(p2) - 0.5)
            return p1, p2, p3, p3, x

    return torch_export(Pyramid(), (torch.randn(2, 3, 32, 32),), out_dir, exporter=exporter, input_names=["image"],
                        output_names=["p1", "p2", "p3", "p3_again", "image_out"])
