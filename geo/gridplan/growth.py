"""Labels on an atom graph given as neighbour lists: grown from seeds, counted in pieces.

Both run on plain lists: they visit one atom at a time, where numpy's
per-element reads would cost more than the visit.
"""

from __future__ import annotations

from collections import deque


def grow_labels(nbrs, seeds: list[int], groups: list[int], n: int) -> list[int] | None:
    """Labels spread breadth first from ``seeds`` (labelled ``groups``) over ``n`` atoms.

    Each unlabelled atom takes the label of the atom it is first reached from;
    None when some atom is never reached.

    Examples
    --------
    >>> path = [[1], [0, 2], [1, 3], [2]]
    >>> grow_labels(path, [0, 3], [0, 1], 4)
    [0, 0, 1, 1]
    >>> grow_labels([[1], [0], []], [0], [0], 3) is None
    True
    """
    labels = [-1] * n
    queue = deque()
    for s, g in zip(seeds, groups, strict=True):
        labels[s] = g
        queue.append(s)
    while queue:
        v = queue.popleft()
        for u in nbrs[v]:
            if labels[u] < 0:
                labels[u] = labels[v]
                queue.append(u)
    return None if min(labels, default=0) < 0 else labels


def pieces_per_label(nbrs, labels: list[int], k: int) -> list[int]:
    """Connected pieces of each label ``0..k-1`` (0 for a label no atom has).

    Examples
    --------
    >>> path = [[1], [0, 2], [1, 3], [2]]
    >>> pieces_per_label(path, [0, 1, 0, 0], 3)
    [2, 1, 0]
    """
    count = [0] * k
    seen = [False] * len(labels)
    for start, g in enumerate(labels):
        if seen[start]:
            continue
        count[g] += 1
        seen[start] = True
        stack = [start]
        while stack:
            v = stack.pop()
            for u in nbrs[v]:
                if not seen[u] and labels[u] == g:
                    seen[u] = True
                    stack.append(u)
    return count
