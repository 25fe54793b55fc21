"""A Shapes layer as a mask on an Image layer's pixel grid (the noise-SD region of the Measure tab)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _to_image_index(point: np.ndarray, shapes: Any, image: Any, viewer_point: tuple[float, ...]) -> np.ndarray:
    """Continuous index in ``image`` of one Shapes vertex (world coordinates, right-aligned)."""
    world = np.asarray(shapes.data_to_world(np.asarray(point, dtype=float)), dtype=float)
    nd = image.ndim
    if world.size < nd:  # a 2-D Shapes layer over a 3-D image: the slice shown now
        world = np.concatenate([np.asarray(viewer_point[-nd:-world.size], dtype=float), world])
    return np.asarray(image.world_to_data(world[-nd:]), dtype=float)


def _ring(corners: np.ndarray, n: int = 180) -> np.ndarray:
    """Polygon of the ellipse inscribed in a (possibly rotated) box given by its 4 corners in order."""
    centre = corners.mean(axis=0)
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)[:, None]
    return centre + np.cos(t) * (corners[1] - corners[0]) / 2.0 + np.sin(t) * (corners[2] - corners[1]) / 2.0


def shapes_to_mask(shapes: Any, image: Any, viewer_point: tuple[float, ...] = ()) -> tuple[np.ndarray, list[str]]:
    """Rasterise the closed shapes of a Shapes layer onto an Image layer's pixel grid.

    Shapes are mapped through world coordinates, so the two layers may have different scales and
    translations. A pixel belongs to the region when its centre lies inside a rectangle, polygon or
    ellipse. On a 3-D image each shape marks the slice it lies in; the shapes of a 2-D Shapes layer
    mark the slice the viewer shows (``viewer_point``, the viewer's world position). Lines and paths
    enclose nothing and are skipped.

    Returns
    -------
    mask, notes
        Boolean mask of the image's shape, and what was skipped.
    """
    from skimage.draw import polygon

    shape = tuple(np.asarray(image.data).shape)
    mask = np.zeros(shape, dtype=bool)
    notes: list[str] = []
    for i, (verts, kind) in enumerate(zip(shapes.data, shapes.shape_type)):
        if kind not in ("rectangle", "polygon", "ellipse"):
            notes.append(f"shape {i + 1} is a {kind} (no area); skipped")
            continue
        idx = np.stack([_to_image_index(v, shapes, image, viewer_point) for v in np.asarray(verts)])
        plane = idx[:, -2:]
        if kind == "ellipse":
            plane = _ring(plane)
        rr, cc = polygon(plane[:, 0], plane[:, 1], shape=shape[-2:])
        if len(shape) == 2:
            mask[rr, cc] = True
            continue
        z = int(round(float(idx[:, 0].mean())))
        if not 0 <= z < shape[0]:
            notes.append(f"shape {i + 1} lies outside the image's slices; skipped")
            continue
        mask[z, rr, cc] = True
    return mask, notes
