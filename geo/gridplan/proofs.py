"""Why a community (or a piece of one) cannot have every grid inside the band.

One vocabulary for the partition, the redistricting report, the evaluation
and the alternatives offered to the planner. A :class:`ProofKind` is a ``str``,
so reports stay plain JSON and compare equal to the strings clients know.
"""

from __future__ import annotations

from enum import StrEnum


class ProofKind(StrEnum):
    """The kind of an infeasibility proof, from the cheapest to the most expensive.

    Examples
    --------
    >>> ProofKind.NO_CONTIGUOUS_GROUPING_FITS == "no_contiguous_grouping_fits"
    True
    >>> sorted(k.value for k in COUNT_KINDS)
    ['community_too_small', 'no_grid_count_fits']
    """

    BUILDING_OVER_UPPER_BOUND = "building_over_upper_bound"  # one building alone is too many
    COMMUNITY_TOO_SMALL = "community_too_small"  # all households below the lower bound
    NO_GRID_COUNT_FITS = "no_grid_count_fits"  # no number of grids averages into the band
    NO_GROUPING_FITS = "no_grouping_fits"  # households cannot be grouped (geometry aside)
    NO_CONTIGUOUS_GROUPING_FITS = "no_contiguous_grouping_fits"  # groupings exist, none contiguous


COUNT_KINDS = (ProofKind.COMMUNITY_TOO_SMALL, ProofKind.NO_GRID_COUNT_FITS)
# proofs that a whole region (not one building) cannot fit the band
PROVED_KINDS = (
    *COUNT_KINDS,
    ProofKind.NO_GROUPING_FITS,
    ProofKind.NO_CONTIGUOUS_GROUPING_FITS,
)
