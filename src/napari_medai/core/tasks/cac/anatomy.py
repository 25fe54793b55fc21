"""Coarse thoracic anatomy of a non-contrast chest CT, for the automatic artery assignment.

Everything is computed on an in-plane downsampled copy (about 2 mm pixels, block means) and kept at
that resolution; :meth:`CardiacAnatomy.coarse_index` maps a full-resolution index onto it. Every
"left", "anterior", "superior" below comes from the CT's ``direction``, so flipped or rotated
in-plane axes are handled.

Steps (each a plain rule, no learning):

1. **body**: the largest 3-D component above -500 HU; its per-slice convex hull (a cropped cardiac
   field of view cuts the body at the image edge, so holes cannot be filled);
2. **lungs**: 3-D components below -400 HU lying (>= 90 %) inside the body hull, of at least 30 ml
   and 10 % of the largest; holes smaller than 4 cm^2 (vessels) filled per slice;
3. **mediastinum**: per slice, the convex hull of the lungs (of this slice and those up to 15 mm
   above it, so that the heart below the lung roots is covered) minus the lungs, at least 5 mm inside
   the hull (keeps the chest wall, its cartilage and the sternum out);
4. **spine**: bone (> 250 HU after smoothing) within 25 mm of the body's mid-line, posterior to the
   body centre; its anterior edge per slice;
5. **descending aorta**: per slice the most round soft-tissue structure (largest inscribed circle,
   radius 7-20 mm) left of the mid-line and touching (within 12 mm) the vertebral body, tracked
   along the slices; kept as a tube (radius + 4 mm);
6. **heart**: soft tissue (-30 HU up to 8 HU above the 90th percentile of the first guess, so that
   the denser liver separates) of the mediastinum at least 10 mm anterior to the spine, 5 mm clear of
   the descending aorta, opened with an 8 mm disc; started in the slice (with at least 70 % of the
   maximal lung area) where it is largest and followed through overlapping components; going down
   it stops where the area jumps by 30 % or the tissue gets 10 HU denser (liver below the
   diaphragm), going up where it falls below 25 % of its maximum. The **base** of the ventricles is
   the first slice above the largest one with less than 60 % of the maximum;
7. **heart centre**: centroid of the heart in its lower half (the ventricles);
8. **aortic root**: from the base up to 30 mm above it, the widest inscribed soft-tissue circle
   (radius 10-22 mm, calcium counted as wall) that is not more than 15 mm posterior to the heart
   centre (the left atrium) and near the heart centre in-plane; followed up and down slice by slice;
9. **heart region**: per slice the convex hull of the heart, grown by 6 mm (epicardial fat of the
   atrioventricular and interventricular grooves) and by 5 mm (at least one slice) up and down (the
   grooves at the base lie just above the ventricles), inside the mediastinum, outside the aortic
   tube, and not higher than one slice above the aortic root (above it only great vessels).

Limits: it knows nothing about contrast agents, pacemaker leads, stents, valve prostheses or
pericardial calcification; a very enlarged heart, a pectus excavatum, lungs collapsed or resected,
or a field of view without lungs break it. The heart's posterior boundary is loose (the esophagus
and the back of the left atrium can fall inside the region), and the root's centre is found to
within a few mm only. It is a starting point for a reader, not a diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from ...errors import MedaiError
from ...volume import Volume

COARSE_MM = 2.0


@dataclass
class CardiacAnatomy:
    """Masks (coarse grid) and landmarks the heuristic assignment uses.

    Attributes
    ----------
    factor
        In-plane downsampling factor from the CT grid.
    spacing
        Spacing of the coarse grid (slice, row, column) in mm.
    shape
        Shape of the full-resolution CT.
    body, lungs, mediastinum, spine, aorta, heart, heart_region
        Boolean masks on the coarse grid (``aorta`` is the descending aorta tube).
    heart_centre
        Centre of the ventricles as a full-resolution (slice, row, column) index.
    aortic_root
        ``{slice: (row, column, radius_mm)}``: the root's centre (full-resolution index) and radius in
        the slices where it was followed; empty when not found.
    anterior, left
        Coarse per-pixel maps of the anterior and patient-left coordinates (mm, relative to the
        array origin), used for directions.
    superior_sign
        +1 when increasing slice index goes superior, -1 when it goes inferior.
    notes
        What was found and what was not.
    """

    factor: int
    spacing: tuple[float, float, float]
    shape: tuple[int, int, int]
    body: np.ndarray
    lungs: np.ndarray
    mediastinum: np.ndarray
    spine: np.ndarray
    aorta: np.ndarray
    heart: np.ndarray
    heart_region: np.ndarray
    heart_centre: tuple[float, float, float] | None
    aortic_root: dict[int, tuple[float, float, float]]
    anterior: np.ndarray
    left: np.ndarray
    superior_sign: int
    notes: list[str] = field(default_factory=list)

    def coarse_index(self, index: np.ndarray) -> np.ndarray:
        """Integer coarse-grid index of full-resolution (slice, row, column) indices ``(..., 3)``."""
        i = np.asarray(index, dtype=float)
        out = np.empty(i.shape, dtype=np.int64)
        out[..., 0] = np.clip(np.rint(i[..., 0]), 0, self.body.shape[0] - 1)
        out[..., 1] = np.clip(np.floor((i[..., 1] + 0.5) / self.factor), 0, self.body.shape[1] - 1)
        out[..., 2] = np.clip(np.floor((i[..., 2] + 0.5) / self.factor), 0, self.body.shape[2] - 1)
        return out

    def full_mask(self, name: str) -> np.ndarray:
        """A coarse mask (``'heart_region'``, ``'lungs'`` ...) expanded to the CT grid (for display)."""
        m = getattr(self, name)
        big = np.repeat(np.repeat(m, self.factor, axis=1), self.factor, axis=2)
        return big[:, : self.shape[1], : self.shape[2]]


def _largest(mask: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def _hull(mask2d: np.ndarray) -> np.ndarray:
    from skimage.morphology import convex_hull_image

    if mask2d.sum() < 3:
        return mask2d.copy()
    return convex_hull_image(mask2d)


def _disk(radius_px: float) -> np.ndarray:
    r = max(int(np.floor(radius_px)), 1)
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return (y * y + x * x) <= radius_px * radius_px + 1e-9


def downsample(ct: Volume) -> tuple[np.ndarray, int]:
    """Block mean of the CT over ``f x f`` pixels (``f`` giving pixels near 2 mm), float32."""
    sp = ct.spacing
    f = max(1, int(round(COARSE_MM / min(sp[1], sp[2]))))
    d = np.asarray(ct.data, dtype=np.float32)
    k, r, c = d.shape
    r2, c2 = -(-r // f) * f, -(-c // f) * f
    if (r2, c2) != (r, c):
        p = np.full((k, r2, c2), -1024.0, dtype=np.float32)
        p[:, :r, :c] = d
        d = p
    return d.reshape(k, r2 // f, f, c2 // f, f).mean(axis=(2, 4)), f


def _directions(ct: Volume, f: int, shape2d: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-pixel anterior and patient-left coordinates (mm) of the coarse grid, and superior sign."""
    d = np.asarray(ct.direction, dtype=float)
    sp = ct.spacing
    r = (np.arange(shape2d[0], dtype=np.float64) * f + (f - 1) / 2.0)[:, None]
    c = (np.arange(shape2d[1], dtype=np.float64) * f + (f - 1) / 2.0)[None, :]
    posterior = d[1, 1] * sp[1] * r + d[1, 2] * sp[2] * c
    left = d[2, 1] * sp[1] * r + d[2, 2] * sp[2] * c
    superior_sign = 1 if d[0, 0] >= 0 else -1
    return -posterior, left, superior_sign


def analyse_anatomy(ct: Volume) -> CardiacAnatomy:
    """Find body, lungs, mediastinum, spine, descending aorta, heart and aortic root (see module doc).

    Raises
    ------
    MedaiError
        When no body or no lungs are found (the automatic assignment then cannot run; assign the
        candidates by hand).
    """
    ds, f = downsample(ct)
    nk = ds.shape[0]
    px = (float(ct.spacing[0]), float(ct.spacing[1]) * f, float(ct.spacing[2]) * f)
    pa = px[1] * px[2]
    vox_ml = px[0] * pa / 1000.0
    anterior, left, sup = _directions(ct, f, ds.shape[1:])
    notes: list[str] = []
    sm = ndi.gaussian_filter(ds, sigma=(0.0, 1.0, 1.0))

    # 1. body and its per-slice hull
    body0 = _largest(ds > -500.0)
    if body0.sum() * vox_ml < 100.0:
        raise MedaiError("automatic assignment: no body found in the CT (nothing above -500 HU of 100 ml); "
                         "assign the candidates by hand")
    body = np.stack([_hull(b) for b in body0])

    # 2. lungs
    air = ds < -400.0
    lab, _ = ndi.label(air)
    cnt = np.bincount(lab.ravel()).astype(float)
    inside = np.bincount(lab.ravel(), weights=body.ravel())
    cnt[0] = 0
    vols = cnt * vox_ml
    frac = inside / np.maximum(cnt, 1.0)
    ok = (vols >= 30.0) & (frac >= 0.9)
    if not ok.any():
        raise MedaiError("automatic assignment: no lungs found (no air-filled region of 30 ml inside the body); "
                         "it needs a chest CT with the lungs in the field of view - assign the candidates by hand")
    keep = np.nonzero(ok & (vols >= 0.1 * vols[ok].max()))[0]
    lungs = np.isin(lab, keep)
    for k in range(nk):
        holes = ndi.binary_fill_holes(lungs[k]) & ~lungs[k]
        hl, hn = ndi.label(holes)
        if hn:
            area = np.bincount(hl.ravel()) * pa
            area[0] = np.inf
            lungs[k] |= (area < 400.0)[hl]
    lung_area = lungs.sum(axis=(1, 2)) * pa

    # 3. mediastinum
    up = int(round(15.0 / px[0]))
    hull = np.zeros_like(lungs)
    for k in range(nk):
        lo, hi = (k, min(nk, k + up + 1)) if sup > 0 else (max(0, k - up), k + 1)
        u = lungs[lo:hi].any(axis=0)
        if u.sum() * pa >= 500.0:
            hull[k] = _hull(u)
    med = hull & ~lungs & body
    for k in range(nk):
        if med[k].any():
            med[k] &= ndi.distance_transform_edt(hull[k], sampling=px[1:]) >= 5.0

    # 4. spine
    bone = sm > 250.0
    spine = np.zeros_like(bone)
    mid_left = np.full(nk, np.nan)
    mid_ant = np.full(nk, np.nan)
    front = np.full(nk, np.nan)
    for k in range(nk):
        if not body[k].any():
            continue
        mid_left[k] = float(left[body[k]].mean())
        mid_ant[k] = float(anterior[body[k]].mean())
        sp_k = bone[k] & (np.abs(left - mid_left[k]) <= 25.0) & (anterior < mid_ant[k]) & body0[k]
        if sp_k.sum() * pa >= 100.0:
            spine[k] = sp_k
            front[k] = float(anterior[sp_k].max())
    if np.isfinite(front).any():
        ks = np.arange(nk)
        good = np.isfinite(front)
        front = np.interp(ks, ks[good], front[good])
    else:
        notes.append("no spine found: the descending aorta is not excluded")

    # 5. descending aorta
    soft = (sm > -40.0) & (sm < 150.0) & body & ~lungs
    aorta = np.zeros_like(soft)
    if np.isfinite(front).all():
        aorta = _track_descending_aorta(soft, spine, hull, anterior, left, mid_left, front, px, notes)

    # 6. heart
    heart, base = _heart(sm, med, aorta, anterior, front, lung_area, px, sup, notes)
    if not heart.any():
        raise MedaiError("automatic assignment: no heart found between the lungs; assign the candidates by hand")

    # 7. heart centre (lower half of the heart = ventricles)
    ks = np.nonzero(heart.any(axis=(1, 2)))[0]
    order = ks if sup > 0 else ks[::-1]  # inferior first
    lower = order[: max(1, (len(order) + 1) // 2)]
    kk, rr, cc = np.nonzero(heart[lower])
    centre = (float(lower[kk].mean()), float(rr.mean() * f + (f - 1) / 2.0), float(cc.mean() * f + (f - 1) / 2.0))

    # 8. aortic root, searched from the base of the ventricles up to 30 mm above it
    window = [k for k in range(nk) if 0 <= (k - base) * sup <= 30.0 / px[0] and med[k].any()]
    root, root_slice = _aortic_root(sm, heart, med, anterior, window, order, px, f, centre, notes)

    # 9. heart region, up to one slice above the root (above it only great vessels)
    top = root_slice if root_slice is not None else base + sup * int(round(20.0 / px[0]))
    grown = np.zeros_like(heart)
    grow = _disk(6.0 / px[1])
    for k in range(nk):
        if heart[k].any() and (k - top) * sup <= 1:
            grown[k] = ndi.binary_dilation(_hull(heart[k]), structure=grow)
    reach = max(1, int(round(5.0 / px[0])))
    region = ndi.binary_dilation(grown, structure=np.ones((2 * reach + 1, 1, 1), dtype=bool))
    aorta_grown = np.stack([ndi.binary_dilation(a, structure=_disk(3.0 / px[1])) if a.any() else a for a in aorta])
    region &= med & ~aorta_grown
    for k in range(nk):
        if (k - top) * sup > 1:
            region[k] = False

    return CardiacAnatomy(
        factor=f, spacing=px, shape=tuple(ct.spatial_shape), body=body, lungs=lungs, mediastinum=med,
        spine=spine, aorta=aorta, heart=heart, heart_region=region, heart_centre=centre, aortic_root=root,
        anterior=anterior, left=left, superior_sign=sup, notes=notes,
    )


def _track_descending_aorta(soft, spine, hull, anterior, left, mid_left, front, px, notes) -> np.ndarray:
    """Largest inscribed circle beside the vertebral body, per slice, kept near its typical place."""
    nk = soft.shape[0]
    pix = px[1]
    dts: list[np.ndarray | None] = [None] * nk
    zones: list[np.ndarray | None] = [None] * nk
    first: list[tuple[float, float, float]] = []
    for k in range(nk):
        if not hull[k].any() or not spine[k].any():
            continue
        dt = ndi.distance_transform_edt(soft[k], sampling=px[1:])
        dspine = ndi.distance_transform_edt(~spine[k], sampling=px[1:])
        zone = (
            soft[k]
            & (left - mid_left[k] >= -10.0) & (left - mid_left[k] <= 70.0)
            & (anterior - front[k] <= 50.0) & (anterior - front[k] >= -25.0)
            & (dt >= 7.0) & (dspine - np.minimum(dt, 20.0) <= 12.0)
        )
        if not zone.any():
            continue
        dts[k], zones[k] = dt, zone
        j = int(np.argmax(np.where(zone, np.minimum(dt, 20.0), -1.0)))
        r, c = np.unravel_index(j, dt.shape)
        first.append((float(r), float(c), float(min(dt[r, c], 20.0))))
    if len(first) < 2:
        notes.append("descending aorta not found")
        return np.zeros_like(soft)
    # second pass: near the typical position, radius capped near the typical radius
    radius = float(np.median([p[2] for p in first]))
    med_r = float(np.median([p[0] for p in first]))
    med_c = float(np.median([p[1] for p in first]))
    rr, cc = np.indices(soft.shape[1:])
    dist = np.hypot(rr - med_r, cc - med_c) * pix
    aorta = np.zeros_like(soft)
    n = 0
    for k in range(nk):
        if dts[k] is None:
            continue
        near = zones[k] & (dist <= 25.0)
        if not near.any():
            continue
        score = np.where(near, np.minimum(dts[k], radius + 3.0) - 0.3 * dist, -np.inf)
        j = int(np.argmax(score))
        r, c = np.unravel_index(j, score.shape)
        rad = float(min(dts[k][r, c], radius + 3.0))
        aorta[k] = ((rr - r) ** 2 + (cc - c) ** 2) * pix * pix <= (rad + 4.0) ** 2
        n += 1
    notes.append(f"descending aorta: radius about {radius:.0f} mm, found in {n} slices")
    return aorta


def _heart(sm, med, aorta, anterior, front, lung_area, px, sup, notes) -> tuple[np.ndarray, int]:
    """The heart's soft tissue, followed through the slices (see module docstring, step 6).

    Returns the mask and the base slice (first slice above the largest cross-section where the
    area falls below 60 % of it: the top of the ventricles).
    """
    nk = sm.shape[0]
    pa = px[1] * px[2]
    allowed = med & ~np.stack([ndi.binary_dilation(a, structure=_disk(5.0 / px[1])) if a.any() else a for a in aorta])
    if np.isfinite(front).all():
        allowed &= anterior >= front[:, None, None] + 10.0
    disc = _disk(8.0 / px[1])

    def blobs(upper: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
        soft = (sm > -30.0) & (sm < upper) & allowed
        labels, areas = [], []
        for k in range(nk):
            o = ndi.binary_opening(soft[k], structure=disc) if soft[k].any() else soft[k]
            lab, _ = ndi.label(o)
            a = np.bincount(lab.ravel()) * pa
            a[0] = 0.0
            labels.append(lab)
            areas.append(a)
        return labels, areas

    def pick_seed(areas: list[np.ndarray]) -> tuple[int, float]:
        eligible = lung_area >= 0.7 * lung_area.max()
        best = np.array([a.max() if (len(a) > 1 and eligible[k]) else 0.0 for k, a in enumerate(areas)])
        return int(np.argmax(best)), float(best.max())

    labels, areas = blobs(150.0)
    seed, peak = pick_seed(areas)
    heart = np.zeros(sm.shape, dtype=bool)
    if peak < 1000.0:  # 10 cm^2
        return heart, 0
    # blood and myocardium are about 40 HU without contrast, the liver below them 55-65 HU: soft tissue
    # more than 8 HU denser than the heart's 90th percentile is left out, so that the liver separates
    vals = sm[seed][labels[seed] == int(np.argmax(areas[seed]))]
    seed_hu = float(np.median(vals))
    labels, areas = blobs(min(150.0, max(50.0, float(np.percentile(vals, 90)) + 8.0)))
    seed, peak = pick_seed(areas)
    if peak < 1000.0:
        return heart, 0
    heart[seed] = labels[seed] == int(np.argmax(areas[seed]))
    base = None
    for step in (-sup, sup):  # inferior, then superior
        prev, prev_area = heart[seed], peak
        k = seed + step
        while 0 <= k < nk:
            lab = labels[k]
            ids = np.unique(lab[prev & (lab > 0)])
            if ids.size == 0:
                break
            cur = np.isin(lab, ids)
            area = float(cur.sum() * pa)
            if step == -sup:
                # below the heart the liver joins: area jumps or the tissue gets denser
                if (area > 1.3 * prev_area and area > 0.5 * peak) or float(np.median(sm[k][cur])) > seed_hu + 10.0:
                    break
            else:
                if area < 0.6 * peak and base is None:
                    base = k
                if area < 0.25 * peak:
                    break
            heart[k] = cur
            prev, prev_area = cur, area
            k += step
    if base is None:
        ks = np.nonzero(heart.any(axis=(1, 2)))[0]
        base = int(ks.max() if sup > 0 else ks.min())
    n = int(heart.any(axis=(1, 2)).sum())
    notes.append(f"heart: {n} slices, largest cross-section {peak / 100:.0f} cm^2 (slice {seed}), "
                 f"ventricles end near slice {base}")
    return heart, int(base)


def _aortic_root(sm, heart, med, anterior, window, order, px, f, centre, notes):
    """The aortic root above the ventricles, followed slice by slice.

    Candidates are centres of inscribed soft-tissue circles (local maxima of the distance map, radius
    10-22 mm) in the ``window`` slices (from the ventricles' base up to 30 mm above), not more than 15 mm
    posterior to the heart centre (the left atrium lies behind); the root is the one with the best
    ``radius - 0.2 x in-plane distance to the heart centre`` (the aorta is the widest vessel at the base
    and sits near its middle; the pulmonary trunk is narrower, the right atrium off to the right). It
    is then followed up and down (nearest circle within 10 mm) through the slices within 25 mm. Above
    the heart the mediastinum is searched instead of the heart.

    Returns ``({slice: (row, column, radius_mm)}, chosen slice)`` in full-resolution indices, or
    ``({}, None)``.
    """
    pix = px[1]
    rc = int(np.clip(round((centre[1] - (f - 1) / 2.0) / f), 0, heart.shape[1] - 1))
    cc0 = int(np.clip(round((centre[2] - (f - 1) / 2.0) / f), 0, heart.shape[2] - 1))
    ant_c = float(anterior[rc, cc0])
    hr, hc = (centre[1] - (f - 1) / 2.0) / f, (centre[2] - (f - 1) / 2.0) / f

    def circles(k: int, low: float = 10.0) -> list[tuple[float, float, float]]:
        h = heart[k] if heart[k].any() else med[k]  # above the heart: the great vessels
        if not h.any():
            return []
        # calcium in the root wall counts as wall (no upper HU bound)
        soft = (sm[k] > -30.0) & ndi.binary_dilation(h, iterations=2)
        dt = ndi.distance_transform_edt(soft, sampling=px[1:])
        peaks = (dt == ndi.maximum_filter(dt, size=3)) & h & (dt >= low) & (dt <= 22.0)
        peaks &= anterior >= ant_c - 15.0  # not the left atrium, which lies posterior
        rr, cc = np.nonzero(peaks)
        return [(float(r), float(c), float(dt[r, c])) for r, c in zip(rr, cc)]

    best = None
    for k in window:
        for r, c, rad in circles(k):
            sc = rad - 0.2 * np.hypot(r - hr, c - hc) * pix
            if best is None or sc > best[0]:
                best = (sc, int(k), r, c, rad)
    if best is None:
        notes.append("aortic root not found: no left main, root calcium not separated")
        return {}, None
    _, k0, r0, c0, rad0 = best
    track = {k0: (r0, c0, rad0)}
    reach = int(round(25.0 / px[0]))
    for step in (-1, 1):
        r, c = r0, c0
        k = k0 + step
        while 0 <= k < heart.shape[0] and abs(k - k0) <= reach:
            near = [(np.hypot(cr - r, cc - c) * pix, cr, cc, crad) for cr, cc, crad in circles(k, low=8.0)]
            near = [t for t in near if t[0] <= 10.0]
            if not near:
                break
            _, r, c, rad = min(near)
            track[k] = (r, c, rad)
            k += step
    notes.append(f"aortic root: found at slice {k0} (radius about {rad0:.0f} mm), followed in slices "
                 f"{min(track)}-{max(track)}")
    return {k: (r * f + (f - 1) / 2.0, c * f + (f - 1) / 2.0, rad) for k, (r, c, rad) in track.items()}, k0
