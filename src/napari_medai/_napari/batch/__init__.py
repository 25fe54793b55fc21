"""Cohort batch run widget: a cohort on Dask in the background, a table filled as cases finish."""

from .widget import BatchWidget

__all__ = ["BatchWidget"]
