"""A DeepMedic-style two-pathway 3-D CNN (Kamnitsas et al. 2017), shaped for napari-medai's engine.

The published network (Kamnitsas et al., "Efficient multi-scale 3D CNN with fully connected CRF for
accurate brain lesion segmentation", Medical Image Analysis 2017):

* two 3-D pathways of eight 3x3x3 convolutions each, with 30, 30, 40, 40, 40, 40, 50, 50 feature
  maps: one on the image at its own resolution, one on the image downsampled x3 (more context for
  the same cost);
* the low-resolution pathway's output upsampled x3 and concatenated with the normal one;
* two fully connected layers of 150 units (1x1x1 convolutions) and a 1x1x1 classification layer;
* PReLU activations and batch normalisation; trained on 25^3 segments, applied on 45^3 segments.

How it fits the engine
----------------------
The engine trains on patches (:class:`~napari_medai.core.recipes.SegmentationRecipe`: image and
target crops of the same size) and infers with MONAI's sliding window
(:func:`~napari_medai.core.inference.sliding_window.infer_array`), whose windows expect an output of the input's
size. DeepMedic's convolutions are *valid* (unpadded): its 25^3 training segment gives a 9^3
prediction. Here :meth:`DeepMedic.forward` takes a segment of any size ``S`` and returns ``S``:

* the normal pathway sees the segment zero-padded by its receptive-field margin (8 voxels per side:
  eight 3x3x3 valid convolutions remove 16), so every output voxel has its full 17^3 receptive field;
* the low-resolution pathway sees the segment zero-padded by 24 voxels per side (8 low-resolution
  voxels of 3) and rounded up to a multiple of 3, averaged over 3x3x3 blocks (``avg_pool3d``), then
  eight valid convolutions give ``ceil(S / 3)`` voxels per axis; nearest-neighbour upsampling x3
  (DeepMedic repeats each voxel) and a crop give ``S`` again. Its receptive field is 51^3 voxels of
  the normal grid, as published. Low-resolution voxel ``i`` covers voxels ``3i .. 3i + 2`` of the
  segment exactly (the left padding is a multiple of 3);
* the concatenated 100 maps go through the two 150-unit 1x1x1 layers and the classifier.

The task contracts (:mod:`napari_medai.core.tasks.stroke.model`) train on 25^3 segments
(``patch_size``) and infer on 45^3 windows (``roi_size``), as published.

Where this departs from the original
------------------------------------
* **Context outside a segment.** DeepMedic reads real image voxels around each segment (its 25^3
  training segment predicts the central 9^3; the low-resolution pathway reads a 57^3 region). Here a
  segment sees zeros beyond its border instead, so voxels near a segment's edge are predicted with
  less context. Training targets cover the whole 25^3 segment (border voxels included), and at
  inference MONAI's overlapping windows (the task uses 50 % overlap, Gaussian blending) weight the
  centre of each window most, where the context is real.
* **Layer order.** Each hidden layer is convolution -> batch norm -> PReLU (DeepMedic applies
  BN -> PReLU -> convolution); the parameter count is the same.
* **No residual connections, no dropout by default, no 3-D CRF**, no 3x3x3 first FC layer (the
  later DeepMedic releases' options); ``dropout`` may be set. The output layer has one channel per
  output of the contract (a sigmoid "lesion" map for the stroke task) rather than a softmax over
  background and lesion.
* **Optimiser**: the engine's AdamW with a polynomial decay, not RMSProp 1e-3.

The class is built on first use (torch is imported inside :func:`build_deepmedic` and the module's
``__getattr__``), so importing this module does not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidInputError

__all__ = [
    "DEFAULT_FC_FEATURES",
    "DEFAULT_FEATURE_MAPS",
    "DOWNSAMPLE_FACTOR",
    "INFERENCE_SEGMENT",
    "KERNEL_SIZE",
    "NORMS",
    "TRAINING_SEGMENT",
    "build_deepmedic",
    "deepmedic_parameter_count",
    "receptive_field",
]

#: Feature maps of the eight convolutions of each pathway (Kamnitsas 2017).
DEFAULT_FEATURE_MAPS: tuple[int, ...] = (30, 30, 40, 40, 40, 40, 50, 50)
#: Units of the two fully connected (1x1x1) layers.
DEFAULT_FC_FEATURES: tuple[int, ...] = (150, 150)
#: The low-resolution pathway works on the image downsampled by this factor.
DOWNSAMPLE_FACTOR = 3
#: Convolution kernel edge.
KERNEL_SIZE = 3
#: Published training and inference segment edges (voxels).
TRAINING_SEGMENT = 25
INFERENCE_SEGMENT = 45
#: Normalisation of the hidden layers: batch norm (published), instance norm, or none.
NORMS: tuple[str, ...] = ("batch", "instance", "none")

_CLASSES: dict[str, Any] = {}


def receptive_field(n_layers: int = len(DEFAULT_FEATURE_MAPS), *, factor: int = DOWNSAMPLE_FACTOR,
                    kernel_size: int = KERNEL_SIZE) -> tuple[int, int]:
    """Receptive field edge (voxels of the input grid) of the normal and the low-resolution pathway.

    Eight valid 3x3x3 convolutions see ``1 + 8 * 2 = 17`` voxels; the low-resolution pathway sees
    17 voxels of the grid downsampled by 3, i.e. ``3 * 17 = 51`` voxels of the input grid.
    """
    normal = 1 + int(n_layers) * (int(kernel_size) - 1)
    return normal, int(factor) * normal


def deepmedic_parameter_count(
    in_channels: int,
    out_channels: int,
    *,
    feature_maps: Sequence[int] = DEFAULT_FEATURE_MAPS,
    fc_features: Sequence[int] = DEFAULT_FC_FEATURES,
    kernel_size: int = KERNEL_SIZE,
    per_channel: int = 0,
) -> int:
    """Parameters of a two-pathway DeepMedic computed from its layer list.

    Each convolution of ``c_in`` -> ``c_out`` maps with a ``k^3`` kernel has ``k^3 c_in c_out``
    weights and ``c_out`` biases; the two pathways are identical; the first 1x1x1 layer takes the
    concatenated ``2 * feature_maps[-1]`` maps. ``per_channel`` extra parameters are added for every
    hidden feature map (both pathways' and the FC layers'): 0 for the convolutions alone, 1 for
    PReLU slopes, 3 for PReLU + batch-norm scale and shift (this module's ``norm="batch"``).
    """
    k3 = int(kernel_size) ** 3
    fm = [int(f) for f in feature_maps]
    fc = [int(f) for f in fc_features]
    pathway, c = 0, int(in_channels)
    for f in fm:
        pathway += k3 * c * f + f
        c = f
    head, c = 0, 2 * fm[-1]
    for f in fc:
        head += c * f + f
        c = f
    head += c * int(out_channels) + int(out_channels)
    hidden = 2 * sum(fm) + sum(fc)
    return 2 * pathway + head + int(per_channel) * hidden


def _classes() -> dict[str, Any]:
    """Build the ``torch.nn.Module`` class on first use (keeps torch out of module import)."""
    if _CLASSES:
        return _CLASSES
    import torch
    import torch.nn.functional as F
    from torch import nn

    def _norm(kind: str, c: int) -> nn.Module:
        if kind == "batch":
            return nn.BatchNorm3d(c)
        if kind == "instance":
            return nn.InstanceNorm3d(c, affine=True)
        return nn.Identity()

    def _pathway(c_in: int, maps: Sequence[int], k: int, norm: str, dropout: float) -> nn.Sequential:
        layers: list[nn.Module] = []
        for f in maps:
            layers += [nn.Conv3d(c_in, f, k, padding=0), _norm(norm, f), nn.PReLU(f)]
            if dropout > 0:
                layers.append(nn.Dropout3d(dropout))
            c_in = f
        return nn.Sequential(*layers)

    class _DeepMedic(nn.Module):
        """Two-pathway DeepMedic (see the module docstring); ``(N, C, S1, S2, S3)`` in, same size out."""

        def __init__(self, *, in_channels: int, out_channels: int, feature_maps: Sequence[int],
                     fc_features: Sequence[int], downsample: int, kernel_size: int, norm: str,
                     dropout: float) -> None:
            super().__init__()
            self.in_channels, self.out_channels = int(in_channels), int(out_channels)
            self.factor, self.kernel_size = int(downsample), int(kernel_size)
            self.margin = len(feature_maps) * (self.kernel_size - 1) // 2
            self.normal = _pathway(self.in_channels, feature_maps, self.kernel_size, norm, dropout)
            self.low = _pathway(self.in_channels, feature_maps, self.kernel_size, norm, dropout)
            head: list[nn.Module] = []
            c = 2 * int(feature_maps[-1])
            for f in fc_features:
                head += [nn.Conv3d(c, int(f), 1), _norm(norm, int(f)), nn.PReLU(int(f))]
                if dropout > 0:
                    head.append(nn.Dropout3d(dropout))
                c = int(f)
            head.append(nn.Conv3d(c, self.out_channels, 1))
            self.head = nn.Sequential(*head)

        def low_resolution_input(self, x: torch.Tensor) -> torch.Tensor:
            """What the low-resolution pathway sees: the padded segment averaged over ``factor^3`` blocks."""
            f, m = self.factor, self.margin * self.factor
            pads: list[int] = []
            for s in reversed(x.shape[2:]):  # F.pad lists the last axis first
                n = math.ceil(int(s) / f)
                pads += [m, f * n - int(s) + m]
            return F.avg_pool3d(F.pad(x, pads), kernel_size=f, stride=f)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.ndim != 5 or x.shape[1] != self.in_channels:
                raise ValueError(f"DeepMedic takes (batch, {self.in_channels}, d, h, w) tensors, "
                                 f"got shape {tuple(x.shape)}")
            size = tuple(int(s) for s in x.shape[2:])
            hn = self.normal(F.pad(x, [self.margin] * 6))
            hl = self.low(self.low_resolution_input(x))
            hl = F.interpolate(hl, scale_factor=float(self.factor), mode="nearest")
            hl = hl[:, :, : size[0], : size[1], : size[2]]
            return self.head(torch.cat([hn, hl], dim=1))

    _DeepMedic.__name__ = _DeepMedic.__qualname__ = "DeepMedic"
    _CLASSES["DeepMedic"] = _DeepMedic
    return _CLASSES


def __getattr__(name: str) -> Any:
    if name == "DeepMedic":
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _positive_ints(value: Any, *, name: str, minimum: int = 1) -> tuple[int, ...]:
    if isinstance(value, (int, str)) or not isinstance(value, Sequence) or not value:
        raise InvalidInputError(f"DeepMedic {name} must be a non-empty list of integers, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise InvalidInputError(f"DeepMedic {name} must hold integers >= {minimum}, got {list(value)}")
        out.append(int(v))
    return tuple(out)


def build_deepmedic(
    *,
    in_channels: int,
    out_channels: int,
    spatial_dims: int = 3,
    feature_maps: Sequence[int] = DEFAULT_FEATURE_MAPS,
    fc_features: Sequence[int] = DEFAULT_FC_FEATURES,
    downsample: int = DOWNSAMPLE_FACTOR,
    kernel_size: int = KERNEL_SIZE,
    norm: str = "batch",
    dropout: float = 0.0,
) -> Any:
    """A DeepMedic with fresh weights, in eval mode (the arguments are a contract's JSON ``kwargs``).

    Parameters
    ----------
    in_channels, out_channels
        Input channels (e.g. DWI and ADC) and output channels (e.g. one sigmoid lesion map).
    spatial_dims
        Must be 3 (DeepMedic is a 3-D network).
    feature_maps
        Maps of each pathway's convolutions (default the published 30, 30, 40, 40, 40, 40, 50, 50).
    fc_features
        Units of the 1x1x1 hidden layers (default 150, 150).
    downsample
        Downsampling factor of the low-resolution pathway (default 3).
    kernel_size
        Convolution kernel edge, odd (default 3).
    norm
        ``"batch"`` (published), ``"instance"`` or ``"none"``.
    dropout
        Channel dropout after each hidden layer during training (0: none).

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    InvalidInputError
        For arguments out of range (the message names the argument).
    """
    if spatial_dims != 3:
        raise InvalidInputError(f"DeepMedic is a 3-D network; spatial_dims must be 3, got {spatial_dims!r}")
    for name, v in (("in_channels", in_channels), ("out_channels", out_channels), ("downsample", downsample)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InvalidInputError(f"DeepMedic {name} must be an integer >= 1, got {v!r}")
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise InvalidInputError(f"DeepMedic kernel_size must be an odd integer >= 1, got {kernel_size!r}")
    maps = _positive_ints(feature_maps, name="feature_maps")
    fcs = _positive_ints(fc_features, name="fc_features") if fc_features else ()
    if norm not in NORMS:
        raise InvalidInputError(f"DeepMedic norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= float(dropout) < 1.0:
        raise InvalidInputError(f"DeepMedic dropout must lie in [0, 1), got {dropout!r}")
    net = _classes()["DeepMedic"](in_channels=in_channels, out_channels=out_channels, feature_maps=maps,
                                  fc_features=fcs, downsample=downsample, kernel_size=kernel_size, norm=norm,
                                  dropout=float(dropout))
    net.eval()
    return net
