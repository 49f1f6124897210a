"""The cheap proofs that no plan of a connected component fits the band.

Asked by :class:`~geo.gridplan.partition.BalancedPartition` once its attempts
leave grids outside the band, so that a component no plan can fit is reported
(with its :class:`~geo.gridplan.proofs.ProofKind`) instead of searched on.
"""

from __future__ import annotations

from geo.gridplan.exact import INFEASIBLE, ConnectedGrouping
from geo.gridplan.packing import packs
from geo.gridplan.proofs import ProofKind

QUICK = (1_000, 5_000)  # tower groups and steps of a quick ask (after one attempt)


class QuickProof:
    """Whether a component is proved to fit no plan, worked out once, when first asked.

    Households alone (:func:`~geo.gridplan.packing.packs`), then contiguity with
    link buildings allowed to serve several grids (``ConnectedGrouping``'s
    relaxation, for components of at most ``max_exact`` household-holding
    atoms). Nothing is proved when not ``allowed`` (a graph with barrier edges
    cut, or a forced part count).
    """

    def __init__(self, w, adj, lo, hi, *, target, allowed=True, max_exact=120, max_steps=60_000):
        self._w, self._adj, self._lo, self._hi = w, adj, lo, hi
        self._target, self._allowed = target, allowed
        self.max_exact, self._max_steps = max_exact, max_steps
        self._asked = False
        self.verdict: dict | None = None

    def proved(self, quick: bool = False) -> bool:
        """Whether no plan fits (``verdict`` then says why).

        ``quick``: within a budget of ``QUICK`` (sets, steps), and asked again
        in full later when it proved nothing.
        """
        if not self._asked and quick:
            verdict = self._prove(*QUICK)
            if verdict is not None:  # a proof within the small budget is a proof
                self._asked, self.verdict = True, verdict
            return verdict is not None
        if not self._asked:
            self._asked = True
            self.verdict = self._prove(8_000, self._max_steps)
        return self.verdict is not None

    def _prove(self, max_sets: int, max_steps: int) -> dict | None:
        w, lo, hi = self._w, self._lo, self._hi
        if not self._allowed:
            return None
        heavy = w[w > 0]
        if packs(heavy, lo, hi) is False:
            return {
                "kind": ProofKind.NO_GROUPING_FITS,
                "detail": (
                    f"the households of its {len(heavy)} buildings "
                    f"({', '.join(f'{x:g}' for x in sorted(heavy))}) cannot be grouped "
                    f"into grids of [{lo:g}, {hi:g}]"
                ),
            }
        if len(heavy) > self.max_exact:
            return None
        quick = ConnectedGrouping(
            self._target, lo, hi, link_caps=(), max_sets=max_sets, max_steps=max_steps
        ).fit(w, self._adj)
        if quick.status_ == INFEASIBLE:
            return no_contiguous(checked(quick), len(heavy), lo, hi)
        return None


def checked(cg: ConnectedGrouping) -> str:
    """How a :class:`ConnectedGrouping` showed that no contiguous split fits."""
    if cg.proof_ == "shared_links":
        return "even if household-free buildings could link several grids"
    return f"every contiguous grouping checked ({cg.sets_} candidate groups)"


def no_contiguous(how: str, heavy: int, lo: float, hi: float) -> dict:
    """The record of a component no contiguous split fits, with ``how`` it was shown."""
    return {
        "kind": ProofKind.NO_CONTIGUOUS_GROUPING_FITS,
        "detail": (
            f"the households of its {heavy} buildings can be grouped into "
            f"[{lo:g}, {hi:g}] but not into contiguous grids: {how}"
        ),
    }
