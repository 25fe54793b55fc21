"""Label conventions: which label values exist, how they form regions, and the empty-mask rules.

A convention is explicit: a label map may only hold 0 (background) and the convention's label
values; anything else is an error that names the offending values (evaluating BraTS 2021 labels
with the BraTS 2023 convention would otherwise silently score the wrong tissue).

Built-in conventions (CLI names)
--------------------------------
``binary``     1 foreground.
``brats2013``  BraTS 2013-2015: 1 necrosis, 2 oedema, 3 non-enhancing, 4 enhancing.
``brats2021``  BraTS 2017-2021: 1 NCR/NET, 2 ED, 4 ET.
``brats2023``  BraTS 2023+: 1 NETC, 2 SNFH, 3 ET.
``msd``        Medical Segmentation Decathlon Task01: 1 oedema, 2 non-enhancing, 3 enhancing.
``isles``      ISLES: 1 lesion.

Tumour regions of the brain-tumour conventions: WT (whole tumour) = every tumour label,
TC (tumour core) = WT minus oedema, ET = enhancing tumour only.

A custom convention is written ``'NAME=1,2;NAME2=3'``: each named region is the union of the
listed label values.

Empty-mask rules
----------------
``brats``  (BraTS challenges) both empty: Dice = IoU = NSD = 1, HD95 = ASSD = 0 mm,
           sensitivity = 1; exactly one empty: Dice = IoU = NSD = 0 and HD95 = ASSD =
           373.13 mm (the diagonal of the 240x240x155 mm BraTS field of view); lesion-wise
           scores with no lesion on either side: lesion Dice = lesion F1 = 1, lesion HD95 = 0.
``isles``  (ISLES'22) both empty: Dice = IoU = lesion F1 = lesion Dice = 1; surface distances
           are undefined (NaN) whenever a mask is empty.
``nan``    undefined values stay NaN (no convention hides them).

Every value that comes from a rule is named in the ``notes`` of its table row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..errors import InvalidInputError

__all__ = [
    "BRATS_HD95_EMPTY_MM",
    "BRATS_LESION_HD95_MISS_MM",
    "CONVENTIONS",
    "EMPTY_RULES",
    "Convention",
    "custom_convention",
    "get_convention",
    "parse_regions",
]

EmptyRule = Literal["brats", "isles", "nan"]
EMPTY_RULES: tuple[str, ...] = ("brats", "isles", "nan")

#: HD95 / ASSD (mm) given by the BraTS rule when exactly one of prediction and reference is empty.
BRATS_HD95_EMPTY_MM = 373.13
#: HD95 (mm) of a missed or false-positive lesion in the BraTS 2023 lesion-wise score.
BRATS_LESION_HD95_MISS_MM = 374.0

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./+ -]*$")


@dataclass(frozen=True)
class Convention:
    """How label values map to named labels and regions, and which empty-mask rule applies.

    Parameters
    ----------
    name
        Short name (``"brats2021"``, ``"custom"``, ...).
    labels
        ``{value: name}`` of every foreground label value allowed (0 is always background).
    regions
        ``{region name: tuple of label values}``; each region is the union of its values.
    empty_rule
        ``"brats"``, ``"isles"`` or ``"nan"`` (see the module docstring).
    description
        One line for listings.
    """

    name: str
    labels: Mapping[int, str]
    regions: Mapping[str, tuple[int, ...]]
    empty_rule: EmptyRule = "nan"
    description: str = ""
    _values: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        labels = {}
        for value, lname in dict(self.labels).items():
            v = _label_value(value, where=f"convention {self.name!r}")
            if not isinstance(lname, str) or not lname.strip():
                raise InvalidInputError(f"convention {self.name!r}: label {v} needs a non-empty name")
            labels[v] = lname.strip()
        if not labels:
            raise InvalidInputError(f"convention {self.name!r} has no labels; give at least one value >= 1")
        regions: dict[str, tuple[int, ...]] = {}
        for rname, values in dict(self.regions).items():
            if not isinstance(rname, str) or not rname.strip():
                raise InvalidInputError(f"convention {self.name!r}: every region needs a non-empty name")
            vals = tuple(sorted({_label_value(v, where=f"region {rname!r}") for v in values}))
            if not vals:
                raise InvalidInputError(f"convention {self.name!r}: region {rname!r} lists no label values")
            unknown = [v for v in vals if v not in labels]
            if unknown:
                raise InvalidInputError(
                    f"convention {self.name!r}: region {rname!r} uses label values {unknown} "
                    f"that are not labels of the convention {sorted(labels)}"
                )
            regions[rname.strip()] = vals
        if not regions:
            raise InvalidInputError(f"convention {self.name!r} has no regions")
        if self.empty_rule not in EMPTY_RULES:
            raise InvalidInputError(
                f"empty_rule must be one of {', '.join(EMPTY_RULES)}, got {self.empty_rule!r}"
            )
        object.__setattr__(self, "labels", dict(sorted(labels.items())))
        object.__setattr__(self, "regions", regions)
        object.__setattr__(self, "_values", frozenset(labels))

    def __hash__(self) -> int:
        return hash((self.name, tuple(self.labels.items()), tuple(self.regions.items()), self.empty_rule))

    @property
    def values(self) -> frozenset[int]:
        """Foreground label values allowed by the convention."""
        return self._values

    def check_values(self, present: Iterable[int], *, what: str = "label map") -> None:
        """Raise :class:`InvalidInputError` naming the values not allowed by this convention.

        Parameters
        ----------
        present
            Label values found in an image (0 is always allowed).
        what
            How to call the image in the message (``"prediction"``, a file name, ...).
        """
        bad = sorted(int(v) for v in present if int(v) != 0 and int(v) not in self._values)
        if bad:
            shown = ", ".join(str(v) for v in bad[:10]) + (" ..." if len(bad) > 10 else "")
            raise InvalidInputError(
                f"{what} holds label value(s) {shown} outside convention {self.name!r} "
                f"(allowed: 0, {', '.join(str(v) for v in sorted(self._values))}); "
                "choose the matching --convention or describe the labels with --regions 'NAME=1,2;...'"
            )

    def with_empty_rule(self, empty_rule: str) -> Convention:
        """A copy with another empty-mask rule."""
        return Convention(self.name, self.labels, self.regions, empty_rule, self.description)  # type: ignore[arg-type]

    def with_regions(self, regions: Mapping[str, Sequence[int]]) -> Convention:
        """A copy whose regions are replaced (values must be labels of this convention)."""
        return Convention(
            self.name, self.labels, {k: tuple(v) for k, v in regions.items()}, self.empty_rule, self.description
        )

    def to_dict(self) -> dict:
        """JSON-friendly description."""
        return {
            "name": self.name,
            "labels": {str(k): v for k, v in self.labels.items()},
            "regions": {k: list(v) for k, v in self.regions.items()},
            "empty_rule": self.empty_rule,
        }


def _label_value(value: object, *, where: str) -> int:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{where}: label value {value!r} is not a number") from exc
    if not math.isfinite(f) or f != int(f) or int(f) < 1:
        raise InvalidInputError(
            f"{where}: label value {value!r} must be a whole number >= 1 (0 is background)"
        )
    return int(f)


def _brats_regions(wt: Sequence[int], tc: Sequence[int], et: Sequence[int]) -> dict[str, tuple[int, ...]]:
    return {"WT": tuple(wt), "TC": tuple(tc), "ET": tuple(et)}


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention("binary", {1: "foreground"}, {"foreground": (1,)}, "nan", "binary mask: 1 foreground"),
        Convention(
            "brats2013",
            {1: "necrosis", 2: "oedema", 3: "non-enhancing", 4: "enhancing"},
            _brats_regions((1, 2, 3, 4), (1, 3, 4), (4,)),
            "brats",
            "BraTS 2013-2015: 1 necrosis, 2 oedema, 3 non-enhancing, 4 enhancing",
        ),
        Convention(
            "brats2021",
            {1: "NCR/NET", 2: "ED", 4: "ET"},
            _brats_regions((1, 2, 4), (1, 4), (4,)),
            "brats",
            "BraTS 2017-2021: 1 NCR/NET, 2 ED, 4 ET",
        ),
        Convention(
            "brats2023",
            {1: "NETC", 2: "SNFH", 3: "ET"},
            _brats_regions((1, 2, 3), (1, 3), (3,)),
            "brats",
            "BraTS 2023+: 1 NETC, 2 SNFH, 3 ET",
        ),
        Convention(
            "msd",
            {1: "oedema", 2: "non-enhancing", 3: "enhancing"},
            _brats_regions((1, 2, 3), (2, 3), (3,)),
            "nan",
            "MSD Task01 brain tumour: 1 oedema, 2 non-enhancing, 3 enhancing",
        ),
        Convention("isles", {1: "lesion"}, {"lesion": (1,)}, "isles", "ISLES stroke lesion: 1 lesion"),
    )
}


def parse_regions(spec: str) -> dict[str, tuple[int, ...]]:
    """Parse ``'NAME=1,2;NAME2=3'`` into ``{"NAME": (1, 2), "NAME2": (3,)}``.

    Raises
    ------
    InvalidInputError
        On an empty spec, a missing ``=``, a repeated or empty name, or values that are not
        whole numbers >= 1; the message shows the expected syntax.
    """
    syntax = "write regions as 'NAME=1,2;NAME2=3' (label values >= 1, ';' between regions)"
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInputError(f"empty region list; {syntax}")
    out: dict[str, tuple[int, ...]] = {}
    for part in spec.split(";"):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise InvalidInputError(f"region {part!r} has no '='; {syntax}")
        name, _, vals = part.partition("=")
        name = name.strip()
        if not name or not _NAME_RE.match(name):
            raise InvalidInputError(f"region name {name!r} is empty or has odd characters; {syntax}")
        if name in out:
            raise InvalidInputError(f"region {name!r} is given twice; {syntax}")
        items = [v.strip() for v in vals.split(",") if v.strip()]
        if not items:
            raise InvalidInputError(f"region {name!r} lists no label values; {syntax}")
        values = []
        for item in items:
            try:
                values.append(_label_value(int(item), where=f"region {name!r}"))
            except ValueError as exc:
                raise InvalidInputError(f"region {name!r}: {item!r} is not a whole number; {syntax}") from exc
        out[name] = tuple(sorted(set(values)))
    if not out:
        raise InvalidInputError(f"empty region list; {syntax}")
    return out


def custom_convention(
    regions: Mapping[str, Sequence[int]] | str,
    *,
    labels: Mapping[int, str] | None = None,
    name: str = "custom",
    empty_rule: str = "nan",
) -> Convention:
    """A convention from named regions (a mapping or a ``'NAME=1,2;NAME2=3'`` string).

    Parameters
    ----------
    regions
        Region name to label values.
    labels
        Optional names of the label values; by default ``label_<value>``.
    name
        Name of the convention.
    empty_rule
        ``"brats"``, ``"isles"`` or ``"nan"``.
    """
    regs = parse_regions(regions) if isinstance(regions, str) else {k: tuple(v) for k, v in regions.items()}
    values = sorted({int(v) for vs in regs.values() for v in vs})
    names = {v: f"label_{v}" for v in values}
    if labels:
        names.update({int(k): str(v) for k, v in labels.items()})
    return Convention(name, names, regs, empty_rule)  # type: ignore[arg-type]


def get_convention(
    spec: str | Convention,
    *,
    regions: str | Mapping[str, Sequence[int]] | None = None,
    empty_rule: str | None = None,
) -> Convention:
    """Resolve a convention by CLI name, custom spec or object.

    Parameters
    ----------
    spec
        A built-in name (``binary``, ``brats2013``, ``brats2021``, ``brats2023``, ``msd``,
        ``isles``), a custom ``'NAME=1,2;NAME2=3'`` string, or a :class:`Convention`.
    regions
        Optional regions that replace those of ``spec`` (their values must be labels of it).
    empty_rule
        Optional empty-mask rule that replaces the convention's own.

    Raises
    ------
    InvalidInputError
        For an unknown name (the message lists the known ones) or a malformed custom spec.
    """
    if isinstance(spec, Convention):
        conv = spec
    elif isinstance(spec, str) and spec.strip().lower() in CONVENTIONS:
        conv = CONVENTIONS[spec.strip().lower()]
    elif isinstance(spec, str) and "=" in spec:
        conv = custom_convention(spec)
    else:
        raise InvalidInputError(
            f"unknown label convention {spec!r}; use one of {', '.join(CONVENTIONS)} "
            "or a custom 'NAME=1,2;NAME2=3'"
        )
    if regions is not None:
        regs = parse_regions(regions) if isinstance(regions, str) else regions
        conv = conv.with_regions(regs)
    if empty_rule is not None:
        conv = conv.with_empty_rule(empty_rule)
    return conv
