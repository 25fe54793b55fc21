"""``--option KEY=VALUE`` items of the subcommands, read into a dict of typed values (one parser for all)."""

from __future__ import annotations


def parse_option_items(items: list[str], *, example: str = "tta=true") -> dict:
    """Read repeated ``--option KEY=VALUE`` items into a dict of typed values.

    Parameters
    ----------
    items : list of str
        The items as given, e.g. ``["a=1", "b=true", "c-d=x"]``.
    example : str, keyword-only
        A valid item of the calling command, shown in the error that a malformed item raises.

    Returns
    -------
    dict
        ``{"a": 1, "b": True, "c_d": "x"}``: each value is read as int, float, true/false/none, else kept as
        text; dashes in keys become underscores (option names are Python identifiers).

    Raises
    ------
    napari_medai.core.errors.InvalidInputError
        An item without ``=`` or with an empty key.
    """
    from ..core.errors import InvalidInputError

    out: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--option {item!r}: write it as KEY=VALUE, e.g. --option {example}")
        value: object
        for conv in (int, float):
            try:
                value = conv(text)
                break
            except ValueError:
                continue
        else:
            value = {"true": True, "false": False, "none": None}.get(text.lower(), text)
        out[key.strip().replace("-", "_")] = value
    return out
