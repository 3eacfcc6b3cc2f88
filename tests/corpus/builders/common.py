"""What every builder shares: the output file names, torch export with its eager oracle, external data.

A builder writes ``out_dir/model.onnx`` and returns ``(feeds, oracle)``: numpy arrays
keyed by the ONNX model's input and output names, in graph order. The oracle comes
from the framework that made the model (torch eager for torch exports), never from
an engine under test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"

Arrays = dict[str, np.ndarray]


def graph_io(path: Path) -> tuple[list[str], list[str]]:
    """Input names (initializers excluded) and output names of the model at ``path``, in graph order."""
    model = onnx.load(str(path), load_external_data=False)
    inits = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits], [o.name for o in model.graph.output]


def externalize(path: Path) -> None:
    """Move every initializer of ``path`` into the side file ``model.onnx.data`` (the layout torch
    and onnx write for models over 2 GB, which users also choose for smaller ones)."""
    model = onnx.load(str(path))
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=DATA_FILE, size_threshold=0)


def torch_export(module: Any, args: tuple, out_dir: Path, *, input_names: list[str], output_names: list[str],
                 exporter: str, opset: int = 17, external: bool = False,
                 dynamic_axes: dict[str, dict[int, str]] | None = None,
                 run_args: tuple | None = None) -> tuple[Arrays, Arrays]:
    """Export ``module`` at ``args`` the way a user does, and return its feeds and torch eager outputs.

    ``exporter`` is ``"legacy"`` (TorchScript, ``dynamo=False``) or ``"dynamo"``
    (``torch.export``; its default opset, 18 or newer, since that is what users get).
    ``dynamic_axes`` (legacy exporter) makes the named axes symbolic, as users do
    for batch and sequence length. Feeds are matched to the exported graph's inputs
    by name, because the legacy exporter drops inputs the graph does not read.
    ``run_args``: the feeds and oracle come from these instead of the traced ``args``
    (other sizes along the dynamic axes, so a symbolic shape is really exercised).
    """
    import torch

    module.eval()
    run_args = args if run_args is None else run_args
    with torch.no_grad():
        outputs = module(*run_args)
    if isinstance(outputs, torch.Tensor):
        outputs = (outputs,)
    path = out_dir / MODEL_FILE
    if exporter == "legacy":
        torch.onnx.export(module, args, str(path), input_names=input_names, output_names=output_names,
                          opset_version=opset, dynamo=False, dynamic_axes=dynamic_axes)
    elif exporter == "dynamo" and dynamic_axes is None:
        program = torch.onnx.export(module, args, input_names=input_names, output_names=output_names,
                                    dynamo=True, verbose=False)
        program.save(str(path))
    else:
        raise ValueError(f"exporter must be 'legacy' or 'dynamo' (dynamic_axes with 'legacy' only). "
                         f"Received: {exporter!r}, dynamic_axes={dynamic_axes!r}")
    if external:
        externalize(path)
    ins, outs = graph_io(path)
    given = dict(zip(input_names, (a.detach().numpy() for a in run_args), strict=True))
    missing = [n for n in ins if n not in given]
    if missing or len(outs) != len(outputs):
        raise RuntimeError(f"export of {type(module).__name__}: graph inputs {ins}, outputs {outs}; "
                           f"expected inputs among {list(given)} and {len(outputs)} outputs")
    feeds = {n: given[n] for n in ins}
    oracle = {n: o.detach().numpy() for n, o in zip(outs, outputs, strict=True)}
    return feeds, oracle


def seed_torch(seed: int) -> None:
    """Seed torch's generator, so a rebuild makes the same weights."""
    import torch

    torch.manual_seed(seed)
