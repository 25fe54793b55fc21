"""Agreement metrics between a predicted and a reference segmentation (GUI-free, numpy/scipy).

Plain functions on binary masks (keyword-only options, spacing in mm per array axis):
:func:`dice`, :func:`iou`, :func:`sensitivity`, :func:`specificity`, :func:`volume_ml`,
:func:`hausdorff95`, :func:`hausdorff_distance`, :func:`assd`, :func:`nsd`,
:func:`surface_distances`, :func:`mask_surface`, :func:`lesion_wise`.

Label conventions and the whole table of a case: :class:`Convention`, :func:`get_convention`,
:func:`compute_table`; cohort summaries: :func:`summarize`, :func:`bootstrap_ci`.

Surface metrics follow MONAI's definitions exactly (erosion-based voxel surfaces, linear
percentile), see :mod:`napari_medai.core.metrics.surface`.
"""

from __future__ import annotations

from ._arrays import changed_box, merge_change
from .aggregate import bootstrap_ci, summarize, summarize_values
from .conventions import (
    BRATS_HD95_EMPTY_MM,
    BRATS_LESION_HD95_MISS_MM,
    CONVENTIONS,
    EMPTY_RULES,
    Convention,
    custom_convention,
    get_convention,
    parse_regions,
)
from .lesions import LESION_STYLES, LesionResult, lesion_wise
from .overlap import (
    ConfusionCounts,
    confusion_counts,
    dice,
    iou,
    sensitivity,
    specificity,
    volume_ml,
)
from .surface import (
    SurfaceDistances,
    assd,
    hausdorff95,
    hausdorff_distance,
    mask_surface,
    nsd,
    surface_distances,
)
from .table import METRICS, TableCache, compute_table, empty_rule_values, table_rows

__all__ = [
    "BRATS_HD95_EMPTY_MM",
    "BRATS_LESION_HD95_MISS_MM",
    "CONVENTIONS",
    "EMPTY_RULES",
    "LESION_STYLES",
    "METRICS",
    "ConfusionCounts",
    "Convention",
    "LesionResult",
    "SurfaceDistances",
    "TableCache",
    "assd",
    "bootstrap_ci",
    "changed_box",
    "compute_table",
    "confusion_counts",
    "custom_convention",
    "dice",
    "empty_rule_values",
    "get_convention",
    "hausdorff95",
    "hausdorff_distance",
    "iou",
    "lesion_wise",
    "mask_surface",
    "merge_change",
    "nsd",
    "parse_regions",
    "sensitivity",
    "specificity",
    "summarize",
    "summarize_values",
    "surface_distances",
    "table_rows",
    "volume_ml",
]
