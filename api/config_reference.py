"""The configuration reference, written from the settings classes themselves.

Every ``ONEMAP_`` variable the service reads is a field of one settings class listed in
:data:`SECTIONS`; this module turns their names, types, constraints, defaults and
descriptions into the Markdown tables of README's "Configuration" section (between
:data:`START` and :data:`END`). ``onemap config reference --write README.md`` (or
``make config-reference``) rewrites that section; a test fails when it is stale.

It lives in ``api`` because it lists the settings of every package (``geo``, ``tiles``,
``api``). Nothing here reads the environment: only the classes are inspected.
"""

from __future__ import annotations

import json
import re
import types
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
NOTE = ("<!-- generated from the settings classes by `onemap config reference --write "
        "README.md` (make config-reference); edit the classes, not this section -->")

#: (heading, "module:Class") in the order of the reference; a variable is listed under the
#: first class that reads it (``ONEMAP_LOCAL_TIMEZONE`` under "Local time").
SECTIONS: tuple[tuple[str, str], ...] = (
    ("Database and the embedded cluster", "geo.settings:DatabaseSettings"),
    ("Local time", "geo.settings:LocalTimeSettings"),
    ("Service area", "geo.settings:ServiceAreaSettings"),
    ("HTTP server, widget role, map page", "api.settings:ApiSettings"),
    ("Import and export", "geo.io.settings:IngestSettings"),
    ("Vector tiles", "tiles.settings:TileSettings"),
    ("OGC API Features", "api.ogc.settings:OgcSettings"),
    ("Hotspots", "geo.hotspots.settings:HotspotSettings"),
    ("Camera coverage", "geo.coverage.settings:CoverageSettings"),
    ("Grid planning", "geo.gridplan.settings:GridPlanSettings"),
    ("Response circles", "geo.response.settings:ResponseSettings"),
    ("Case flow", "geo.cases.settings:CaseSettings"),
    ("平安指数 (safety index)", "geo.cases.settings:IndexSettings"),
    ("Command centre", "geo.dashboard.settings:DashboardSettings"),
    ("Batch analyses: the Dask cluster", "geo.batch.settings:DaskSettings"),
    ("Batch analyses: the jobs", "geo.batch.settings:BatchSettings"),
)


@dataclass(frozen=True)
class Variable:
    """One environment variable: a field of a settings class."""

    name: str
    field: str
    type: str
    default: str
    description: str
    secret: bool


def settings_class(target: str) -> type[BaseSettings]:
    """The class named by ``"module:Class"``."""
    module, _, name = target.partition(":")
    return getattr(import_module(module), name)


def env_name(cls: type[BaseSettings], field: str, info: FieldInfo) -> str:
    """The variable a field is read from: its alias, else the class's prefix + its name.

    Examples
    --------
    >>> from geo.settings import LocalTimeSettings
    >>> env_name(LocalTimeSettings, "local_timezone",
    ...          LocalTimeSettings.model_fields["local_timezone"])
    'ONEMAP_LOCAL_TIMEZONE'
    """
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        alias = next((c for c in alias.choices if isinstance(c, str)), None)
    if isinstance(alias, str):
        return alias.upper()
    return (cls.model_config.get("env_prefix", "") + field).upper()


def type_text(annotation: Any) -> str:
    """A type as a reader of the reference would write it.

    Examples
    --------
    >>> type_text(dict[str, float] | None)
    'dict[str, float] | None'
    """
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(type_text(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return getattr(annotation, "__name__", str(annotation))


_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def constraints(info: FieldInfo) -> str:
    """Bounds and patterns of a field (``≥ 1, ≤ 64``; ``one of zh, en``)."""
    out = []
    for meta in info.metadata:
        for attr, sign in _BOUNDS:
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{sign} {_number(value)}")
        pattern = getattr(meta, "pattern", None)
        if pattern:
            choices = re.fullmatch(r"\^\(([\w|]+)\)\$", pattern)
            out.append(f"one of {', '.join(choices[1].split('|'))}" if choices
                       else f"matches {pattern}")
    return ", ".join(out)


def _number(value: Any) -> str:
    return format(value, ".6g") if isinstance(value, float) else str(value)


def default_text(info: FieldInfo) -> str:
    """The default as it would be written in the environment (``unset`` for None)."""
    value = info.default_factory() if info.default is PydanticUndefined else info.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if value == "" else value
    return json.dumps(value, ensure_ascii=False)


def variables(cls: type[BaseSettings]) -> list[Variable]:
    """The variables of one settings class, in field order."""
    out = []
    for field, info in cls.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        kind = type_text(info.annotation)
        bounds = constraints(info)
        out.append(Variable(
            name=env_name(cls, field, info), field=field,
            type=f"{kind} ({bounds})" if bounds else kind,
            default=default_text(info), description=(info.description or "").strip(),
            secret=bool(extra.get("secret"))))
    return out


def reference() -> list[tuple[str, type[BaseSettings], list[Variable], list[str]]]:
    """Per section: heading, class, the variables listed there, those listed earlier."""
    seen: set[str] = set()
    out = []
    for heading, target in SECTIONS:
        cls = settings_class(target)
        own, shared = [], []
        for var in variables(cls):
            (shared if var.name in seen else own).append(var)
            seen.add(var.name)
        out.append((heading, cls, own, [v.name for v in shared]))
    return out


def all_variables() -> dict[str, Variable]:
    """Every variable of the reference by name."""
    return {v.name: v for _, _, own, _ in reference() for v in own}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    """The reference as Markdown, markers included."""
    lines = [START, NOTE, ""]
    for heading, cls, own, shared in reference():
        lines += [f"### {heading}", ""]
        note = f"`{cls.__module__}.{cls.__name__}`"
        if shared:
            note += "; also reads " + ", ".join(f"`{n}`" for n in shared) + " (above)"
        lines += [note + ".", "", "| variable | type | default | meaning |", "|---|---|---|---|"]
        for v in own:
            default = "secret, no default shown" if v.secret else f"`{_cell(v.default)}`"
            lines.append(f"| `{v.name}` | {_cell(v.type)} | {default} | "
                         f"{_cell(v.description)} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines) + "\n"


class MissingMarkers(ValueError):
    """The document has no configuration-reference section to replace."""


def _span(text: str) -> tuple[int, int]:
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise MissingMarkers(f"no {START} … {END} section")
    stop = end + len(END)
    return start, stop + (text[stop:stop + 1] == "\n")


def section(text: str) -> str:
    """The reference section of a document (markers and the newline after them included)."""
    start, stop = _span(text)
    return text[start:stop]


def rewrite(text: str) -> str:
    """``text`` with its reference section replaced by :func:`markdown`."""
    start, stop = _span(text)
    return text[:start] + markdown() + text[stop:]


def write(path: Path) -> bool:
    """Rewrite the reference section of ``path``; True when it changed."""
    text = path.read_text(encoding="utf-8")
    new = rewrite(text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text
