"""A landmark-patch network (Liu, Zhang, Adeli, Shen 2018), shaped for napari-medai's engine.

The published network ("Landmark-based deep multi-instance learning for brain disease diagnosis",
Medical Image Analysis 43, 2018) takes one 24^3 patch around each of L anatomical landmarks of an
affinely aligned T1, runs a small 3-D CNN per patch, and fuses the patch features with fully
connected layers into the diagnosis -- multi-instance learning: the subject is the bag, the patches
its instances, and only the subject is labelled.

Here:

* **input** ``(B, L * C, P, P, P)``: the bag as the engine cuts it
  (:func:`napari_medai.core.inference.classification.classification_input` with ``input_mode="landmarks"``), the
  ``C`` channels of landmark ``l`` at ``l * C .. (l + 1) * C - 1``;
* **one CNN with shared weights** for every patch (the paper trains one sub-network per landmark;
  sharing keeps the parameter count independent of L, as its "shared weights with a landmark
  embedding" variant): ``len(features)`` stages of 3x3x3 convolution (padding 1), batch norm, ReLU
  and 2x2x2 max pooling, then global average pooling -> ``features[-1]`` numbers per patch;
* **a learned landmark embedding** (``embedding`` numbers per landmark, ``torch.nn.Embedding``)
  concatenated with each patch's features, so the shared layers can tell the landmarks apart;
* **per-patch fully connected layer** (``patch_fc`` units, ReLU), then the L patch vectors
  concatenated (landmark order) and fused by fully connected layers (``fc`` units each, ReLU,
  dropout) into ``out_channels`` logits.

Batch norm over ``B * L`` patches (not instance norm: a patch's mean intensity -- darker where tissue
became CSF -- is the signal). The class is built on first use, so importing this module does not
import torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InvalidInputError

__all__ = ["DEFAULT_FEATURES", "build_landmark_net", "landmark_net_parameter_count"]

#: Feature maps of the shared patch CNN's stages.
DEFAULT_FEATURES: tuple[int, ...] = (16, 32, 64)
_CLASSES: dict[str, Any] = {}


def _classes() -> dict[str, Any]:
    if _CLASSES:
        return _CLASSES
    import torch
    from torch import nn

    class _LandmarkNet(nn.Module):
        """Shared patch CNN + landmark embedding + fully connected fusion (see the module docstring)."""

        def __init__(self, *, n_landmarks: int, in_channels: int, out_channels: int, features: Sequence[int],
                     embedding: int, patch_fc: int, fc: Sequence[int], dropout: float) -> None:
            super().__init__()
            self.n_landmarks, self.in_channels = int(n_landmarks), int(in_channels)
            layers: list[nn.Module] = []
            c = self.in_channels
            for f in features:
                layers += [nn.Conv3d(c, int(f), 3, padding=1), nn.BatchNorm3d(int(f)), nn.ReLU(inplace=True),
                           nn.MaxPool3d(2, ceil_mode=True)]
                c = int(f)
            layers.append(nn.AdaptiveAvgPool3d(1))
            self.patch_cnn = nn.Sequential(*layers)
            self.embedding = nn.Embedding(self.n_landmarks, int(embedding)) if embedding > 0 else None
            self.patch_fc = nn.Sequential(nn.Linear(c + max(0, int(embedding)), int(patch_fc)), nn.ReLU(inplace=True))
            head: list[nn.Module] = []
            width = self.n_landmarks * int(patch_fc)
            for u in fc:
                head += [nn.Dropout(float(dropout)), nn.Linear(width, int(u)), nn.ReLU(inplace=True)]
                width = int(u)
            head += [nn.Dropout(float(dropout)), nn.Linear(width, int(out_channels))]
            self.head = nn.Sequential(*head)

        def patch_features(self, x: torch.Tensor) -> torch.Tensor:
            """``(B, L, patch_fc)``: every patch through the shared CNN, with its landmark's embedding."""
            b, lc = int(x.shape[0]), int(x.shape[1])
            if x.ndim != 5 or lc != self.n_landmarks * self.in_channels:
                raise ValueError(f"LandmarkNet takes (batch, {self.n_landmarks} x {self.in_channels}, p, p, p) "
                                 f"tensors, got shape {tuple(x.shape)}")
            feats = self.patch_cnn(x.reshape(b * self.n_landmarks, self.in_channels, *x.shape[2:])).flatten(1)
            feats = feats.reshape(b, self.n_landmarks, -1)
            if self.embedding is not None:
                emb = self.embedding.weight.unsqueeze(0).expand(b, -1, -1)
                feats = torch.cat([feats, emb], dim=2)
            return self.patch_fc(feats)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.patch_features(x).flatten(1))

    _LandmarkNet.__name__ = _LandmarkNet.__qualname__ = "LandmarkNet"
    _CLASSES["LandmarkNet"] = _LandmarkNet
    return _CLASSES


def __getattr__(name: str) -> Any:
    if name == "LandmarkNet":
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _int(v: Any, name: str, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise InvalidInputError(f"LandmarkNet {name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _ints(v: Any, name: str, *, allow_empty: bool) -> tuple[int, ...]:
    if isinstance(v, (int, str)) or not isinstance(v, Sequence) or (not v and not allow_empty):
        raise InvalidInputError(f"LandmarkNet {name} must be a list of integers >= 1, got {v!r}")
    return tuple(_int(x, name, 1) for x in v)


def build_landmark_net(
    *,
    n_landmarks: int,
    in_channels: int = 1,
    out_channels: int = 2,
    spatial_dims: int = 3,
    features: Sequence[int] = DEFAULT_FEATURES,
    embedding: int = 8,
    patch_fc: int = 32,
    fc: Sequence[int] = (64,),
    dropout: float = 0.25,
) -> Any:
    """A :class:`LandmarkNet` with fresh weights, in eval mode (the arguments are a contract's JSON ``kwargs``).

    Parameters
    ----------
    n_landmarks
        L, the patches per subject.
    in_channels, out_channels
        Channels per patch (1: the T1) and classes.
    spatial_dims
        Must be 3.
    features
        Feature maps of the shared CNN's stages (each halves the patch).
    embedding
        Length of the learned landmark embedding (0: none).
    patch_fc
        Units of the per-patch fully connected layer.
    fc
        Units of the fusion layers.
    dropout
        Dropout before each fusion layer, in [0, 1).

    Raises
    ------
    InvalidInputError
        An argument out of range (the message names it).
    """
    if spatial_dims != 3:
        raise InvalidInputError(f"LandmarkNet is a 3-D network; spatial_dims must be 3, got {spatial_dims!r}")
    n = _int(n_landmarks, "n_landmarks", 1)
    cin, cout = _int(in_channels, "in_channels", 1), _int(out_channels, "out_channels", 1)
    feats = _ints(features, "features", allow_empty=False)
    fcs = _ints(fc, "fc", allow_empty=True)
    emb, pfc = _int(embedding, "embedding", 0), _int(patch_fc, "patch_fc", 1)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
        raise InvalidInputError(f"LandmarkNet dropout must lie in [0, 1), got {dropout!r}")
    net = _classes()["LandmarkNet"](n_landmarks=n, in_channels=cin, out_channels=cout, features=feats,
                                    embedding=emb, patch_fc=pfc, fc=fcs, dropout=float(dropout))
    net.eval()
    return net


def landmark_net_parameter_count(*, n_landmarks: int, in_channels: int = 1, out_channels: int = 2,
                                 features: Sequence[int] = DEFAULT_FEATURES, embedding: int = 8, patch_fc: int = 32,
                                 fc: Sequence[int] = (64,)) -> int:
    """Parameters of a :func:`build_landmark_net` network, counted from its layer list.

    Each stage: a 3x3x3 convolution (``27 c_in c_out + c_out``) and batch norm (``2 c_out``); the
    embedding ``L * embedding``; the per-patch layer ``(features[-1] + embedding) * patch_fc + patch_fc``;
    the fusion layers from ``L * patch_fc`` inputs to ``out_channels``.
    """
    total, c = 0, int(in_channels)
    for f in features:
        total += 27 * c * f + f + 2 * f
        c = f
    total += int(n_landmarks) * int(embedding)
    total += (c + int(embedding)) * int(patch_fc) + int(patch_fc)
    width = int(n_landmarks) * int(patch_fc)
    for u in (*fc, out_channels):
        total += width * int(u) + int(u)
        width = int(u)
    return total
