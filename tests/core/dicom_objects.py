"""A small CT series written with pydicom, complete enough for DICOM SEG / SR and de-identification tests.

Every file carries the patient's identifiers in many places (standard tags, dates and times, nested
sequences, private tags, UIDs); :data:`IDENTIFIERS` lists the values, so a test can check that none of
them is left in de-identified bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"

STUDY_UID = "1.2.826.0.1.3680043.8.498.77701"
SERIES_UID = "1.2.826.0.1.3680043.8.498.77702"
FRAME_UID = "1.2.826.0.1.3680043.8.498.77703"
REQUEST_STUDY_UID = "1.2.826.0.1.3680043.8.498.77704"
PPS_UID = "1.2.826.0.1.3680043.8.498.77705"

#: Identifying values written into every file (SOP instance UIDs are added per file).
IDENTIFIERS = {
    "PatientName": "Quixotesmith^Arabella^Jane",
    "PatientID": "MRN7731904",
    "PatientBirthDate": "19580417",
    "OtherPatientIDs": "ALT55129043",
    "PatientAddress": "17 Larkspur Crescent, Hollowmere",
    "PatientTelephoneNumbers": "+44 1632 960 417",
    "MilitaryRank": "Wingcommanderx",
    "AccessionNumber": "ACC99120457",
    "StudyID": "STU88213",
    "InstitutionName": "Saint Wendelin Infirmary",
    "InstitutionAddress": "3 Abbeygate Row, Wendelford",
    "ReferringPhysicianName": "Okonkwo-Bright^Theodora",
    "PerformingPhysicianName": "Vanterpool^Ignatius",
    "OperatorsName": "Halloran^Perpetua",
    "StationName": "CTWEND07",
    "DeviceSerialNumber": "SN4471902",
    "StudyDate": "20210314",
    "SeriesDate": "20210315",
    "AcquisitionDateTime": "20210316101112.000000",
    "ContentDate": "20210317",
    "StudyTime": "101112.000000",
    "StudyDescription": "Cardiac CT for Quixotesmith MRN7731904",
    "ImageComments": "Seen by Dr Vanterpool",
    "PatientComments": "Allergic to Zeltrazine",
    "RequestedProcedureID": "RPID66120391",
    "ScheduledProcedureStepID": "SPSID2231877",
    "RequestingPhysician": "Abernathy-Lowe^Cressida",
    "PrivateCreator": "ACME HOSPITAL PRIVATE",
    "PrivateName": "Quixotesmith-private-copy",
    "StudyInstanceUID": STUDY_UID,
    "SeriesInstanceUID": SERIES_UID,
    "FrameOfReferenceUID": FRAME_UID,
    "RequestStudyUID": REQUEST_STUDY_UID,
    "PerformedProcedureStepUID": PPS_UID,
}


def write_ct_series(
    folder: Path,
    stack: np.ndarray,
    *,
    spacing: tuple[float, float, float] = (2.5, 0.8, 0.8),
    origin_lps: tuple[float, float, float] = (-20.0, -30.0, 40.0),
    study_uid: str = STUDY_UID,
    series_uid: str = SERIES_UID,
    frame_uid: str = FRAME_UID,
    identifiers: bool = True,
    sop_class: str = CT_IMAGE_STORAGE,
    modality: str = "CT",
    burned_in: str | None = None,
    file_prefix: str = "IM",
    sop_root: str = "1.2.826.0.1.3680043.8.498.7780",
) -> list[Path]:
    """Write ``stack`` (slice, row, column; int16 HU) as an axial CT series, one file per slice.

    Slices go up along +S (feet to head) from ``origin_lps``; rows along +P, columns along +L.
    Returns the files in slice order.
    """
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    folder.mkdir(parents=True, exist_ok=True)
    stack = np.asarray(stack, dtype=np.int16)
    out = []
    ids = IDENTIFIERS
    for k in range(stack.shape[0]):
        sop = f"{sop_root}{k + 1:03d}"
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"{file_prefix}{k + 1:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.Modality = modality
        ds.Manufacturer = "Phantom Works"
        ds.ManufacturerModelName = "Synthetic CT"
        ds.SeriesNumber = 3
        ds.InstanceNumber = k + 1
        ds.SeriesDescription = "Calcium score 2.5 mm"
        ds.BodyPartExamined = "HEART"
        ds.PatientSex = "F"
        ds.PatientAge = "062Y"
        ds.StudyTime = ids["StudyTime"]
        if identifiers:
            for key in ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "PatientAddress",
                        "PatientTelephoneNumbers", "MilitaryRank", "AccessionNumber", "StudyID", "InstitutionName",
                        "InstitutionAddress", "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
                        "StationName", "DeviceSerialNumber", "StudyDate", "SeriesDate", "AcquisitionDateTime",
                        "ContentDate", "StudyDescription", "ImageComments", "PatientComments"):
                setattr(ds, key, ids[key])
            ds.ContentTime = "101500.000000"
            ds.SeriesTime = "101300.000000"
            req = Dataset()
            req.AccessionNumber = ids["AccessionNumber"]
            req.RequestedProcedureID = ids["RequestedProcedureID"]
            req.ScheduledProcedureStepID = ids["ScheduledProcedureStepID"]
            req.RequestingPhysician = ids["RequestingPhysician"]
            req.StudyInstanceUID = REQUEST_STUDY_UID
            ds.RequestAttributesSequence = Sequence([req])
            pps = Dataset()
            pps.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
            pps.ReferencedSOPInstanceUID = PPS_UID
            ds.ReferencedPerformedProcedureStepSequence = Sequence([pps])
            ref = Dataset()  # a nested item holding a reference, a date and a private tag
            ref.ReferencedSOPClassUID = sop_class
            ref.ReferencedSOPInstanceUID = f"{sop_root}{max(k, 1):03d}"
            ref.InstanceCreationDate = ids["ContentDate"]
            ref.private_block(0x0031, ids["PrivateCreator"], create=True).add_new(0x01, "LO", ids["PrivateName"])
            ds.ReferencedImageSequence = Sequence([ref])
            block = ds.private_block(0x0029, ids["PrivateCreator"], create=True)
            block.add_new(0x01, "LO", ids["PrivateName"])
            block.add_new(0x02, "DA", ids["StudyDate"])
        else:
            ds.PatientName = "Phantom^Cardiac"
            ds.PatientID = "PHANTOM01"
            ds.PatientBirthDate = ""
            ds.AccessionNumber = ""
            ds.StudyID = "1"
            ds.ReferringPhysicianName = ""
            ds.StudyDate = "20260101"
            ds.ContentDate = "20260101"
            ds.ContentTime = "120000"
        if burned_in is not None:
            ds.BurnedInAnnotation = burned_in
        pos = (origin_lps[0], origin_lps[1], origin_lps[2] + k * spacing[0])
        ds.ImagePositionPatient = [f"{v:.4f}" for v in pos]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.PixelSpacing = [f"{spacing[1]:g}", f"{spacing[2]:g}"]
        ds.SliceThickness = f"{spacing[0]:g}"
        ds.KVP = "120"
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = int(stack.shape[1]), int(stack.shape[2])
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.PixelData = stack[k].astype("<i2").tobytes()
        ds.save_as(str(path), enforce_file_format=True)
        out.append(path)
    return out


def phantom_stack(shape: tuple[int, int, int] = (6, 32, 40)) -> np.ndarray:
    """A small int16 'CT' (-1000 air, 40 HU body) with two bright calcium-like spots."""
    n, r, c = shape
    stack = np.full(shape, -1000, dtype=np.int16)
    stack[:, 4:r - 4, 4:c - 4] = 40
    if n >= 4 and r >= 24 and c >= 30:
        stack[2:4, 10:13, 12:15] = 450
        stack[3, 20:23, 25:29] = 250
    return stack
