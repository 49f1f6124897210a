"""``onemap grids list|new|evaluate|redistrict|diff|publish|export|overlay``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from geo.errors import InvalidInput
from geo.gridplan import plan_views, plans, store
from geo.gridplan.diff import diff_plans
from geo.gridplan.export import FORMATS, export_grids, export_members
from geo.gridplan.overlay import read_layer
from geo.gridplan.parallel import Parallelism
from geo.gridplan.redistrict import RedistrictParams, redistrict
from geo.gridplan.settings import GridPlanSettings
from geo.settings import ServiceAreaSettings

app = typer.Typer(
    help="Grid plans: evaluate, redistrict, diff, publish, export, 多网合一.", no_args_is_help=True
)
PLAN_HELP = "plan id (default: the active plan)"


def _engine():
    from geo.db.engine import make_engine
    from geo.settings import DatabaseSettings

    return make_engine(DatabaseSettings())


def _out(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=1, default=str))


@app.command("list")
def list_cmd() -> None:
    """List plans (id, status, version, grids, households)."""
    engine = _engine()
    with engine.connect() as conn:
        rows = plans.list_plans(conn)
    table = Table("id", "name", "status", "version", "grids", "households", "author", "created")
    for p in rows:
        table.add_row(
            str(p["id"]),
            p["name"],
            p["status"],
            str(p["version"]),
            str(p["grids"]),
            str(p["households"]),
            p["author"],
            p["created_at"][:16],
        )
    Console().print(table)


@app.command("new")
def new_cmd(
    name: str = typer.Argument(..., help="name of the draft"),
    from_plan: int | None = typer.Option(None, "--from", help=PLAN_HELP),
    note: str | None = typer.Option(None),
) -> None:
    """Create a draft as a copy of a plan; prints its id last."""
    engine = _engine()
    src = plan_views.resolve_plan(engine, from_plan)
    with engine.begin() as conn:
        plan_id = plans.create_plan(conn, name, src, "cli", note)
    typer.echo(f"draft {plan_id} created from plan {src}")
    typer.echo(str(plan_id))


@app.command("evaluate")
def evaluate_cmd(
    plan: int | None = typer.Option(None, help=PLAN_HELP),
    community: list[str] | None = typer.Option(None, help="only these communities"),
    target: int | None = typer.Option(None),
    tolerance: float | None = typer.Option(None),
    as_json: bool = typer.Option(False, "--json", help="full JSON with every grid"),
) -> None:
    """Evaluate a plan: band, contiguity, compactness, gaps/overlaps, crossings, infeasible."""
    engine = _engine()
    plan_id = plan_views.resolve_plan(engine, plan)
    with _spinner(f"evaluating plan {plan_id}"):
        ev = plan_views.evaluate_plan(
            engine, plan_id, GridPlanSettings(), community or None, target, tolerance,
            grids=as_json, area=ServiceAreaSettings(),
        )
    if as_json:
        _out(ev)
        return
    _summary_table(f"plan {plan_id} (v{ev['version']}, {ev['status']})", ev["summary"])
    _infeasible(ev["infeasible"])


@app.command("redistrict")
def redistrict_cmd(
    plan: int | None = typer.Option(
        None, help="draft to redistrict (default: a new draft copied from the active plan)"
    ),
    name: str | None = typer.Option(None, help="name of the new draft"),
    community: list[str] | None = typer.Option(None, help="only these communities"),
    target: int | None = typer.Option(None, help="households per grid"),
    tolerance: float | None = typer.Option(None, help="relative band"),
    seed: int | None = typer.Option(None),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Redistrict communities into balanced, contiguous, compact grids."""
    engine = _engine()
    settings = GridPlanSettings()
    params = RedistrictParams.from_settings(settings, target=target, tolerance=tolerance, seed=seed)
    if plan is None:
        src = plan_views.resolve_plan(engine, None)
        with engine.begin() as conn:
            plan = plans.create_plan(
                conn,
                name or f"重划 {datetime.now():%Y-%m-%d %H:%M}",
                src,
                "cli",
                f"onemap grids redistrict from plan {src}",
            )
        typer.echo(f"new draft {plan} from plan {src}", err=True)
    with engine.begin() as conn:
        plans.check_draft(conn, plan, None)  # fail before drawing a progress bar
        codes = store.community_codes(conn, community or None)
    with _progress() as bar:
        task = bar.add_task("communities", total=len(codes))
        rep = redistrict(
            engine,
            plan,
            params,
            "cli",
            community or None,
            progress=lambda code: bar.update(task, advance=1, description=code),
            parallel=Parallelism.from_settings(settings),
            area=ServiceAreaSettings(),
        )
    if as_json:
        _out(rep)
        return
    _summary_table(
        f"plan {plan} redistricted (v{rep['version']}, {rep['seconds']} s)",
        {
            k: rep[k]
            for k in ("grids", "feasible_grids", "within_band", "within_band_share", "band")
        },
    )
    _infeasible(rep["infeasible"])


@app.command("diff")
def diff_cmd(
    a: int = typer.Argument(...),
    b: int = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """What changes from plan A to plan B."""
    engine = _engine()
    with engine.connect() as conn:
        d = diff_plans(conn, a, b)
    if as_json:
        _out(d)
        return
    _summary_table(
        f"plan {a} → plan {b}",
        {
            "added": len(d["added"]),
            "removed": len(d["removed"]),
            "changed": len(d["changed"]),
            "unchanged": d["unchanged"],
            "buildings_moved": d["buildings_moved"],
            "households_moved": d["households_moved"],
        },
    )


@app.command("publish")
def publish_cmd(
    plan: int = typer.Argument(...),
    version: int | None = typer.Option(None, help="expected version (If-Match)"),
) -> None:
    """Make a draft the active plan; incidents are re-assigned to its grids."""
    engine = _engine()
    with _spinner(f"publishing plan {plan}"), engine.begin() as conn:
        res = plans.publish(conn, plan, "cli", version)
    typer.echo(
        f"plan {plan} active (v{res['version']}); archived {res['archived']}; "
        f"{res['incidents_reassigned']} incidents re-assigned"
    )


EXPORT_HELP = f"output ({', '.join(FORMATS)}); .csv writes building → grid"


@app.command("export")
def export_cmd(
    file: Path = typer.Argument(..., help=EXPORT_HELP),
    plan: int | None = typer.Option(None, help=PLAN_HELP),
    members: Path | None = typer.Option(None, help="also write building → grid CSV here"),
) -> None:
    """Export a plan's grids (GeoPackage/GeoJSON/Shapefile) and/or the building → grid CSV."""
    engine = _engine()
    plan_id = plan_views.resolve_plan(engine, plan)
    if file.suffix.lower() == ".csv":
        n = export_members(engine, plan_id, file)
        typer.echo(f"{n} buildings → {file}")
    else:
        n = export_grids(engine, plan_id, file, GridPlanSettings())
        typer.echo(f"{n} grids → {file}")
    if members is not None:
        n = export_members(engine, plan_id, members)
        typer.echo(f"{n} buildings → {members}")


@app.command("overlay")
def overlay_cmd(
    file: Path = typer.Argument(..., help="another department's grid layer"),
    plan: int | None = typer.Option(None, help=PLAN_HELP),
    key: str | None = typer.Option(None, help="field naming the departmental grids"),
    out: Path | None = typer.Option(None, help="write the classified layer (GeoJSON)"),
) -> None:
    """多网合一: where a departmental layer matches, nests in, or conflicts with the base grids."""
    if not file.exists():
        raise InvalidInput(f"no such file: {file}")
    engine = _engine()
    plan_id = plan_views.resolve_plan(engine, plan)
    res = plan_views.overlay(engine, plan_id, read_layer(str(file), key),
                             area=ServiceAreaSettings())
    s = res["summary"]
    _summary_table(
        f"{file.name} vs plan {plan_id}",
        {**{k: v for k, v in s.items() if k != "by_status"}, **s["by_status"]},
    )
    if out is not None:
        out.write_text(json.dumps(res["layer"], ensure_ascii=False), encoding="utf-8")
        typer.echo(f"classified layer → {out}")


def _summary_table(title: str, data: dict) -> None:
    table = Table("figure", "value", title=title)
    for k, v in data.items():
        shown = "–" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)
        table.add_row(k, shown)
    Console().print(table)


def _infeasible(rows: list[dict]) -> None:
    if not rows:
        return
    table = Table("community", "kind", "detail", title="infeasible (reported, not counted)")
    for r in rows:
        table.add_row(str(r["community_code"]), r["kind"], r["detail"])
    Console().print(table)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


def _spinner(text: str):
    return Console(stderr=True).status(text)
