"""Alzheimer's disease from T1 MRI (Liu, Zhang, Adeli, Shen 2018): alignment to MNI152, a cohort
simulated from real anatomy, landmark discovery, and (later) a landmark-patch classifier.

* :mod:`.registration` -- affine registration of a skull-on T1 to the MNI152 2009a template;
* :mod:`.cohort` -- an Alzheimer-like cohort simulated from the IXI T1s and their DLMUSE parcellations;
* :mod:`.landmarks` -- a cohort aligned to the template, a voxel-wise AD vs NC comparison (p and t maps)
  and the most significant, mutually separated landmarks.
"""
