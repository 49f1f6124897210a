"""``onemap cases summary|warnings|repeats`` (ARCHITECTURE.md §3, §10).

Tables go to stdout; ``--json`` prints the full answer (the HTTP answer's shape).
"""

from __future__ import annotations

import json

import typer

from api.cli.coverage import _engine

app = typer.Typer(help="Case flow: figures, red/yellow/green warnings, repeat complaints.",
                  no_args_is_help=True)

LEVELS = "city|district|street|community|grid"
LEVEL = typer.Option("city", "--level", help=LEVELS)
FROM = typer.Option(None, "--from", help="ISO 8601 start (inclusive)")
TO = typer.Option(None, "--to", help="ISO 8601 end (exclusive; a date means its end)")
AT = typer.Option(None, "--at", help="the moment (ISO 8601; default now)")
JSON = typer.Option(False, "--json", help="print the full JSON")


def _dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, default=str)


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _num(v) -> str:
    return "–" if v is None else f"{v:.1f}"


def _cases(engine):
    from geo.cases.settings import CaseSettings
    from geo.cases.table import read_cases

    settings = CaseSettings()
    return read_cases(engine, settings), settings


@app.command()
def summary(level: str = LEVEL,
            by: str = typer.Option(None, "--by", help="department|category|source"),
            from_: str = FROM, to: str = TO, at: str = AT, as_json: bool = JSON) -> None:
    """Received, done, closure / on-time / satisfaction rates per unit (ARCHITECTURE.md §10)."""
    from rich.console import Console
    from rich.table import Table

    from geo.cases.figures import summary as compute
    from geo.cases.params import window

    with _engine() as engine:
        cases, settings = _cases(engine)
        out = compute(cases, level, window(from_, to, at, tz=settings.timezone), by)
    if as_json:
        typer.echo(_dump(out))
        return
    table = Table(title=f"cases by {level}" + (f" and {by}" if by else ""))
    cols = ("unit", "name", *(["group"] if by else []), "received", "done", "closure",
            "on time", "median h", "p90 h", "overdue open", "satisfied", "reopened", "from 110")
    for col in cols:
        table.add_column(col)
    for u in out["units"]:
        table.add_row(u["code"], u["name"], *([str(u["group"])] if by else []),
                      str(u["received"]), str(u["done"]), _pct(u["closure_rate"]),
                      _pct(u["on_time_rate"]), _num(u["median_hours"]), _num(u["p90_hours"]),
                      str(u["overdue_open"]), _pct(u["satisfaction_rate"]),
                      _pct(u["reopen_rate"]), _pct(u["from_110_share"]))
    Console().print(table)


@app.command()
def warnings(level: str = LEVEL, at: str = AT,
             limit: int = typer.Option(20, "--limit", min=0, help="cases listed"),
             as_json: bool = JSON) -> None:
    """Open cases at a moment, red / yellow / green, per unit and department."""
    from rich.console import Console
    from rich.table import Table

    from geo.cases.lights import warnings as compute
    from geo.cases.params import moment

    with _engine() as engine:
        cases, settings = _cases(engine)
        out = compute(cases, level, moment(at, tz=settings.timezone),
                      limit=limit)
    if as_json:
        typer.echo(_dump(out))
        return
    console = Console()
    for title, rows, key in ((f"open cases by {level} at {out['at']}", out["units"], "code"),
                             ("by department", out["by_department"], "department")):
        table = Table(title=title)
        for col in (key, "red", "yellow", "green"):
            table.add_column(col)
        for u in rows:
            if u["red"] + u["yellow"] + u["green"]:
                table.add_row(str(u[key]), str(u["red"]), str(u["yellow"]), str(u["green"]))
        console.print(table)
    for f in out["cases"]["features"]:
        p = f["properties"]
        console.print(f"{p['light']:6} {p['source']}/{p['external_id']} {p['category']} "
                      f"{p['department'] or '–'} limit {p['limit_at']} "
                      f"({p['hours_past_limit']:+.1f} h)")


@app.command()
def repeats(level: str = LEVEL,
            radius_m: float = typer.Option(50.0, "--radius-m", help="metres"),
            days: float = typer.Option(30.0, "--days", help="days"),
            from_: str = FROM, to: str = TO, at: str = AT,
            limit: int = typer.Option(20, "--limit", min=0, help="links listed"),
            as_json: bool = JSON) -> None:
    """Repeat complaints linked to the earlier case they repeat; repeat rate per unit."""
    from rich.console import Console
    from rich.table import Table

    from geo.cases.params import window
    from geo.cases.repeats import repeats as compute

    with _engine() as engine:
        cases, settings = _cases(engine)
        out = compute(cases, level, window(from_, to, at, tz=settings.timezone),
                      radius_m=radius_m, days=days, limit=limit)
    if as_json:
        typer.echo(_dump(out))
        return
    table = Table(title=f"repeats within {radius_m:g} m and {days:g} days: {out['repeats']}")
    for col in ("unit", "name", "received", "repeats", "rate"):
        table.add_column(col)
    for u in out["units"]:
        table.add_row(u["code"], u["name"], str(u["received"]), str(u["repeats"]),
                      _pct(u["repeat_rate"]))
    console = Console()
    console.print(table)
    for link in out["links"]:
        console.print(f"{link['source']}/{link['external_id']} repeats #{link['repeat_of']} "
                      f"(first #{link['first']}) {link['metres']:.0f} m, {link['hours']:.0f} h")
