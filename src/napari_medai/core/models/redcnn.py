"""RED-CNN (residual encoder-decoder CNN) for low-dose CT denoising; not part of MONAI.

Two variants, both 2-D, 5 x 5 kernels, stride 1, no padding (each encoder layer shrinks the image by
4 pixels, each decoder layer grows it back), ReLU activations and three residual shortcuts:

* :class:`REDCNN` -- the network of Chen et al. 2017 ("Low-dose CT with a residual
  encoder-decoder convolutional neural network", IEEE TMI): five convolutions and five transposed
  convolutions, each with its own weights, ``filters`` (96) channels. Shortcuts: the input to the
  output, the output of encoder layer 2 to decoder layer 3, and encoder layer 4 to decoder layer 1.
* :class:`SharedREDCNN` -- the weight-sharing variant whose state_dict ships as
  ``redcnn_shared_L1_25.pt`` (keys ``conv_first``, ``conv``, ``conv_t``, ``conv_t_last``): one
  ``conv`` is applied four times in the encoder and one ``conv_t`` four times in the decoder.

Both take and return ``(batch, 1, rows, columns)`` tensors in the intensity units they were
trained on (see :data:`SHARED_INPUT_OFFSET_HU` for the shared weights); images smaller than
21 x 21 pixels are refused because the encoder would shrink them to nothing.

:func:`load_shared_redcnn` reads the shared weights with ``torch.load(..., weights_only=True)``
and strict key checking. torch is imported inside the functions and the two classes are built on
first use (``from napari_medai.core.models.redcnn import REDCNN`` works, through the module's
``__getattr__``), so importing this module does not import torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ModelLoadError
from .persistence import LOAD_ERRORS, torch_load_weights

__all__ = [
    "MIN_SIDE",
    "SHARED_INPUT_OFFSET_HU",
    "SHARED_KEYS",
    "build_redcnn",
    "check_state_dict",
    "load_shared_redcnn",
    "read_state_dict",
]

#: The shared weights' authors fed the network HU minus this offset (their data's convention).
SHARED_INPUT_OFFSET_HU = 24.0
#: Parameter names of :class:`SharedREDCNN` (and of ``redcnn_shared_L1_25.pt``).
SHARED_KEYS = (
    "conv_first.weight", "conv_first.bias", "conv.weight", "conv.bias",
    "conv_t.weight", "conv_t.bias", "conv_t_last.weight", "conv_t_last.bias",
)
#: Smallest image side both variants accept (5 valid 5 x 5 convolutions remove 20 pixels).
MIN_SIDE = 21

_CLASSES: dict[str, Any] = {}


def _classes() -> dict[str, Any]:
    """Build the ``torch.nn.Module`` classes on first use (keeps torch out of module import)."""
    if _CLASSES:
        return _CLASSES
    import torch
    from torch import nn

    def _check_size(x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"RED-CNN takes (batch, 1, rows, columns) tensors, got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < MIN_SIDE:
            raise ValueError(f"RED-CNN needs images of at least {MIN_SIDE} x {MIN_SIDE} pixels, got {tuple(x.shape[-2:])}")

    class _REDCNN(nn.Module):
        """Chen et al. 2017 RED-CNN: 5 conv + 5 transposed conv (5 x 5), 3 residual shortcuts."""

        def __init__(self, filters: int = 96) -> None:
            super().__init__()
            self.filters = int(filters)
            f = self.filters
            self.conv1 = nn.Conv2d(1, f, 5)
            self.conv2 = nn.Conv2d(f, f, 5)
            self.conv3 = nn.Conv2d(f, f, 5)
            self.conv4 = nn.Conv2d(f, f, 5)
            self.conv5 = nn.Conv2d(f, f, 5)
            self.tconv1 = nn.ConvTranspose2d(f, f, 5)
            self.tconv2 = nn.ConvTranspose2d(f, f, 5)
            self.tconv3 = nn.ConvTranspose2d(f, f, 5)
            self.tconv4 = nn.ConvTranspose2d(f, f, 5)
            self.tconv5 = nn.ConvTranspose2d(f, 1, 5)
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _check_size(x)
            r1 = x
            a = self.relu(self.conv1(x))
            a = self.relu(self.conv2(a))
            r2 = a
            a = self.relu(self.conv3(a))
            a = self.relu(self.conv4(a))
            r3 = a
            a = self.relu(self.conv5(a))
            a = self.tconv1(a) + r3
            a = self.tconv2(self.relu(a))
            a = self.tconv3(self.relu(a)) + r2
            a = self.tconv4(self.relu(a))
            return self.tconv5(self.relu(a)) + r1

    class _SharedREDCNN(nn.Module):
        """RED-CNN with one shared ``conv`` (x4) and one shared ``conv_t`` (x4), 96 channels."""

        def __init__(self, filters: int = 96) -> None:
            super().__init__()
            self.filters = int(filters)
            f = self.filters
            self.conv_first = nn.Conv2d(1, f, 5)
            self.conv = nn.Conv2d(f, f, 5)
            self.conv_t = nn.ConvTranspose2d(f, f, 5)
            self.conv_t_last = nn.ConvTranspose2d(f, 1, 5)
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _check_size(x)
            r1 = x
            a = self.relu(self.conv_first(x))
            a = self.relu(self.conv(a))
            r2 = a
            a = self.relu(self.conv(a))
            a = self.relu(self.conv(a))
            r3 = a
            a = self.relu(self.conv(a))
            a = self.conv_t(a) + r3
            a = self.conv_t(self.relu(a))
            a = self.conv_t(self.relu(a)) + r2
            a = self.conv_t(self.relu(a))
            return self.conv_t_last(self.relu(a)) + r1

    _REDCNN.__name__ = _REDCNN.__qualname__ = "REDCNN"
    _SharedREDCNN.__name__ = _SharedREDCNN.__qualname__ = "SharedREDCNN"
    _CLASSES["REDCNN"] = _REDCNN
    _CLASSES["SharedREDCNN"] = _SharedREDCNN
    return _CLASSES


def __getattr__(name: str) -> Any:
    if name in ("REDCNN", "SharedREDCNN"):
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_redcnn(variant: str = "standard", *, filters: int = 96) -> Any:
    """A RED-CNN with fresh weights, in eval mode.

    Parameters
    ----------
    variant
        ``"standard"`` (:class:`REDCNN`, Chen 2017) or ``"shared"`` (:class:`SharedREDCNN`).
    filters
        Channels of the hidden layers (96 in the paper and in the shared weights).

    Returns
    -------
    torch.nn.Module
    """
    from ..errors import InvalidInputError

    if isinstance(filters, bool) or not isinstance(filters, int) or not 1 <= filters <= 512:
        raise InvalidInputError(f"filters must be an integer from 1 to 512 (the paper uses 96), got {filters!r}")
    classes = _classes()
    if variant == "standard":
        net = classes["REDCNN"](filters)
    elif variant == "shared":
        net = classes["SharedREDCNN"](filters)
    else:
        raise InvalidInputError(f"RED-CNN variant must be 'standard' or 'shared', got {variant!r}")
    net.eval()
    return net


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``{name: tensor}`` state_dict read safely (``weights_only=True``).

    Raises
    ------
    ModelLoadError
        When the file is missing, unreadable, or holds anything but a dict of tensors.
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"{p}: no such weights file; give the path of a RED-CNN state_dict (.pt)")
    try:
        obj = torch_load_weights(p)
    except LOAD_ERRORS as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"{p}: not a state_dict that loads safely with weights_only=True ({first}); save the weights with "
            "torch.save(model.state_dict(), path)"
        ) from exc
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelLoadError(f"{p}: holds no state_dict (expected a dict of parameter name -> tensor)")
    return dict(obj)


def check_state_dict(net: Any, state_dict: Mapping[str, Any], *, where: str) -> None:
    """Load ``state_dict`` into ``net`` strictly: same names, same shapes, or a clear error.

    Raises
    ------
    ModelLoadError
        Naming the missing, unexpected and mis-shaped parameters.
    """
    own = net.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}" + (" ..." if len(missing) > 4 else ""))
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:4])}" + (" ..." if len(unexpected) > 4 else ""))
        if shapes:
            parts.append(f"wrong shapes {'; '.join(shapes[:3])}")
        raise ModelLoadError(
            f"{where}: the weights do not fit {type(net).__name__}(filters={getattr(net, 'filters', '?')}): "
            + "; ".join(parts) + " (strict key check); these weights belong to another network"
        )
    net.load_state_dict(dict(state_dict), strict=True)
    net.eval()


def load_shared_redcnn(path: str | os.PathLike[str]) -> Any:
    """The shared-weight RED-CNN with the weights of ``path`` (e.g. ``redcnn_shared_L1_25.pt``).

    The number of channels is read from ``conv_first.weight``; every key must match
    :data:`SHARED_KEYS` exactly. Feed it HU minus :data:`SHARED_INPUT_OFFSET_HU` (unnormalised)
    and add the offset back to its output.

    Raises
    ------
    ModelLoadError
        When the file is not a safe state_dict or its keys/shapes are not the shared RED-CNN's.
    """
    sd = read_state_dict(path)
    first = sd.get("conv_first.weight")
    filters = int(first.shape[0]) if first is not None and first.ndim == 4 else 96
    net = build_redcnn("shared", filters=filters)
    check_state_dict(net, sd, where=str(path))
    return net
