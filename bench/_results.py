"""One place that writes a benchmark's section of bench/RESULTS.md."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(heading: str, body: str | list[str]) -> None:
    """Replace (or append) the section that starts with ``heading`` (a ``## …`` line).

    ``body`` is the text under the heading (a string, or lines), or a whole section that
    already starts with the heading.
    """
    text = body if isinstance(body, str) else "\n".join(body)
    if not text.startswith(heading):
        text = f"{heading}\n\n{text}"
    section = text.rstrip("\n") + "\n"
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    start = old.find(heading + "\n")
    if start == -1:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        end = old.find("\n## ", start + len(heading))
        new = old[:start] + section + ("\n" + old[end + 1:] if end != -1 else "")
    RESULTS.write_text(new, encoding="utf-8")
