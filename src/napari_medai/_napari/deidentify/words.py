"""The de-identification widget's words: its tooltips and the first status line."""

from __future__ import annotations

#: The status line before the first run.
HINT = ("Choose the folder of DICOM files to de-identify and a new output folder, then De-identify. "
        "The input is never modified.")

#: Tooltips of the widget's controls, by control.
TIPS = {
    "input": "The folder of DICOM files (searched with its sub-folders). It is only read, never modified.",
    "output": "A new or empty folder outside the input: one sub-folder per series, named by its new Series "
              "Instance UID, and deidentification_report.csv. Images to review go to <output>_review.",
    "key": "Optional. A key file (JSON) made on the first run and reused later: the same patients get the same "
           "pseudonyms, UIDs and date offsets, so a DICOM SEG or SR made later still points at the right images. "
           "It re-identifies the data: keep it inside the hospital. None: nothing links the output back.",
    "dates": "Retain Longitudinal Temporal Information with Modified Dates: every date is moved back by one offset "
             "per patient (30-730 days), so intervals between studies are kept. Off: dates are removed. The birth "
             "date is always removed.",
    "clean": "Clean Descriptors: descriptions and comments (study, series, protocol, ...) are kept with names, IDs "
             "and long numbers taken out, instead of being removed.",
    "run": "De-identify every DICOM file (DICOM PS3.15 Basic Application Level Confidentiality Profile) off the "
           "GUI thread; Cancel stops it and removes what it wrote.",
    "series": "A de-identified series of the output folder",
    "open": "Open the chosen de-identified series in the viewer, to check it",
}

__all__ = ["HINT", "TIPS"]
