"""Low-dose CT (LDCT) denoising: classical filters, RED-CNN, self-supervised and trained networks.

One entry point, :func:`denoise`, takes a CT slice or stack in HU (array or
:class:`~napari_medai.core.volume.Volume`) and a method name, works slice by slice with
``progress(fraction, message)`` / ``should_stop()`` callbacks, and returns a
:class:`DenoiseResult` (image, parameters used, timing).

================== ===========================================================================
method             what
================== ===========================================================================
gaussian           Gaussian blur (:mod:`.classical`; defaults tuned on the phantom)
tv                 total-variation (Chambolle), strength scaled to the estimated noise
nlm                non-local means, strength scaled to the estimated noise
bilateral          bilateral filter, range scaled to the estimated noise
redcnn             RED-CNN state_dict given by ``weights`` (the shared ``redcnn_shared_L1_25.pt``
                   weight-sharing variant, fed HU - 24), strict key check
trained            a model folder written by :func:`train_ldct` / ``napari-medai train ldct``
noise2self         blind-spot U-Net trained on the input image itself (:mod:`.selfsupervised`)
================== ===========================================================================

Every method takes ``blend`` (default 0): the output is ``denoised + blend * (input - denoised)``.
Denoisers estimate the noise-free image; the full-dose image that LDCT papers score against is
itself noisy. When the low-dose image is the full-dose image plus independent extra noise (as
in the Mayo / AAPM challenge data, and for :func:`~napari_medai.core.simulation.simulate_low_dose`),
noise variance scales as 1 / dose and the least-squares estimate of the *full-dose* image from the
low-dose one and a perfect denoiser is ``blend = dose ratio`` (0.25 for quarter dose). Clinical
"blending" of iterative and FBP reconstructions follows the same idea. It is an explicit choice,
reported in the result's parameters, never a silent default.

Training on pairs: :func:`train_ldct` (RED-CNN) writes a self-describing model folder opened by
:func:`load_denoiser`.

torch is imported only by the network methods.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...callbacks import MetricsFn, ProgressFn, StopFn
from ...errors import InvalidInputError
from ...models.loading import register_loader
from ...volume import Volume
from ._common import (
    L506_LIVER_ROI,
    WINDOW_HU,
    apply_blend,
    as_image,
    check_blend,
    estimate_noise_sd,
    plain,
)
from .classical import CLASSICAL_METHODS, classical_parameters, denoise_classical
from .selfsupervised import Noise2SelfOptions, noise2self
from .supervised import (
    DENOISER_NETWORKS,
    DenoiserContract,
    LdctPair,
    LdctTrainingResult,
    apply_denoiser,
    load_denoiser,
    shared_redcnn_contract,
    train_ldct,
)

__all__ = [
    "CLASSICAL_METHODS",
    "DENOISER_NETWORKS",
    "L506_LIVER_ROI",
    "METHODS",
    "WINDOW_HU",
    "DenoiseResult",
    "DenoiserContract",
    "LdctPair",
    "LdctTrainingResult",
    "Noise2SelfOptions",
    "apply_denoiser",
    "classical_parameters",
    "denoise",
    "estimate_noise_sd",
    "load_denoiser",
    "noise2self",
    "shared_redcnn_contract",
    "train_ldct",
]

# load_model() opens denoiser model folders with load_denoiser (the model layer never imports a task)
register_loader("denoiser", load_denoiser)

#: Every method :func:`denoise` knows, in the order listings show them.
METHODS: tuple[str, ...] = (*CLASSICAL_METHODS, "redcnn", "trained", "noise2self")

_NEEDS_WEIGHTS = ("redcnn", "trained")


@dataclass
class DenoiseResult:
    """What :func:`denoise` returns.

    Attributes
    ----------
    image
        Denoised float32 array, the input's shape, in HU.
    method
        The method name.
    parameters
        Every parameter used (defaults resolved), JSON-friendly.
    seconds
        Wall time of the call.
    volume
        When the input was a :class:`Volume`: the result on the same grid (``name`` + ``_<method>``,
        ``meta["denoise"]`` holding method and parameters); else ``None``.
    notes
        Things a user should know (e.g. untrained or external weights).
    """

    image: np.ndarray
    method: str
    parameters: dict[str, Any]
    seconds: float
    volume: Volume | None = None
    notes: list[str] = field(default_factory=list)


def denoise(
    image: np.ndarray | Volume,
    *,
    method: str,
    weights: Any = None,
    options: Mapping[str, Any] | None = None,
    blend: float = 0.0,
    device: str = "auto",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    on_metrics: MetricsFn | None = None,
    stop_training: StopFn | None = None,
) -> DenoiseResult:
    """Denoise a CT slice or stack (slice by slice) with one of :data:`METHODS`.

    Parameters
    ----------
    image
        2-D slice or 3-D stack ``(slices, rows, columns)`` in HU, as an array or a :class:`Volume`.
    method
        One of :data:`METHODS`.
    weights
        ``redcnn``: a RED-CNN state_dict file (e.g. ``redcnn_shared_L1_25.pt``); ``trained``: a
        model folder from :func:`train_ldct` (either also accepts a loaded model). Ignored by the
        other methods (refused when given, so a typo does not go unnoticed).
    options
        Method parameters overriding the defaults: see :func:`classical_parameters` for the
        classical filters and :class:`Noise2SelfOptions` for ``noise2self``.
    blend
        Fraction of the input's residual kept (see the module docstring), in [0, 1].
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"`` for the network methods.
    progress, should_stop
        ``progress(fraction, message)`` and ``should_stop()``; cancelling raises
        :class:`~napari_medai.core.models.Cancelled`.
    on_metrics, stop_training
        ``noise2self`` only (ignored by the other methods, which do not train): a callable given
        ``{"step", "loss", "masked_rmse_hu"}`` after every training step (a live loss curve), and
        ``stop_training()`` polled every step -- True ends training early and denoises with the
        network trained so far (``parameters["stop_reason"]`` then says ``"stopped"``).

    Returns
    -------
    DenoiseResult

    Raises
    ------
    InvalidInputError
        Unknown method or option, bad image, missing weights.
    napari_medai.core.models.ModelLoadError
        Weights that cannot be loaded safely or do not fit the network.
    """
    t0 = time.perf_counter()
    if method not in METHODS:
        raise InvalidInputError(f"unknown denoising method {method!r}; use one of {', '.join(METHODS)}")
    arr, vol = as_image(image)
    b = check_blend(blend)
    opts = dict(options or {})
    notes: list[str] = []
    if method in _NEEDS_WEIGHTS:
        if weights is None:
            hint = ("the shared RED-CNN state_dict, e.g. .../weights/redcnn_shared_L1_25.pt" if method == "redcnn"
                    else "a model folder written by 'napari-medai train ldct'")
            raise InvalidInputError(f"method {method!r} needs weights: give {hint} (--weights)")
        if opts:
            raise InvalidInputError(f"method {method!r} takes no options (got {', '.join(sorted(opts))})")
    elif weights is not None:
        raise InvalidInputError(f"method {method!r} uses no weights; drop --weights, or use method 'redcnn'/'trained'")

    if method in CLASSICAL_METHODS:
        out, params = denoise_classical(arr, method, options=opts, progress=progress, should_stop=should_stop)
    elif method == "noise2self":
        try:
            n2s_opts = Noise2SelfOptions(**opts)
        except TypeError as exc:
            raise InvalidInputError(
                f"noise2self options are {', '.join(Noise2SelfOptions.__dataclass_fields__)}; {exc}"
            ) from exc
        if "device" not in opts:
            n2s_opts = Noise2SelfOptions(**{**n2s_opts.to_dict(), "device": device})
        out, info = noise2self(arr, options=n2s_opts, progress=progress, should_stop=should_stop,
                               on_metrics=on_metrics, stop_training=stop_training)
        params = {**info["options"], "iterations_run": info["iterations_run"], "stop_reason": info["stop_reason"],
                  "final_masked_rmse_hu": info["final_masked_rmse_hu"], "train_seconds": info["train_seconds"]}
    else:
        model = load_denoiser(weights)
        c = model.contract
        if not isinstance(c, DenoiserContract):
            raise InvalidInputError(f"{model.source} is not a CT denoiser")
        out = apply_denoiser(model, arr, device=device, progress=progress, should_stop=should_stop)
        params = {"weights": str(model.info.get("weights_file", model.source)),
                  "weights_md5": model.info.get("weights_md5"), "model": c.summary()}
        notes.extend(model.notes)
        if not c.is_trained:
            notes.append(c.training_status)
    if b:
        out = apply_blend(out, arr, b)
    params = plain({**params, "blend": b})
    result = DenoiseResult(image=out.astype(np.float32, copy=False), method=method, parameters=params,
                           seconds=time.perf_counter() - t0, notes=notes)
    if vol is not None:
        meta = dict(vol.meta)
        meta["denoise"] = {"method": method, "parameters": params}
        result.volume = vol.with_data(result.image, name=f"{vol.name}_{method}", source=None, meta=meta,
                                      units=vol.units or "HU")
    return result
