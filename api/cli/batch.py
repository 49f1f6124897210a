"""``onemap batch export|hotspots|emerging|coverage``: province-scale batch work on Dask.

Export writes a partitioned GeoParquet dataset from PostGIS; the analyses read
one and run on a local Dask cluster (``ONEMAP_DASK_WORKERS`` processes) or on
the scheduler given by ``--scheduler`` / ``ONEMAP_DASK_SCHEDULER``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.options import CATEGORY, FROM, RES, SOURCE, TO, K

app = typer.Typer(help="Batch analyses on Dask over partitioned GeoParquet.",
                  no_args_is_help=True)

SCHEDULER = typer.Option(None, "--scheduler",
                         help="Dask scheduler address (default: ONEMAP_DASK_SCHEDULER, "
                              "else a local cluster)")
OUT = typer.Option(..., "--out", help="output GeoParquet file (.parquet)")


def _progress(label: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                    transient=False)


def _wait(futures: list, label: str) -> None:
    """Show a progress bar while the partition tasks complete."""
    from distributed import as_completed

    with _progress(label) as bar:
        task = bar.add_task(label, total=len(futures))
        for _ in as_completed(futures):
            bar.advance(task)


@app.command("export")
def export(layer: str = typer.Argument(..., help="incidents, cameras, buildings, …"),
           folder: Path = typer.Argument(..., help="new dataset folder (must not exist)"),
           partition: str = typer.Option("month", "--partition",
                                         help="incidents: month (month × coarse cell) or cell")
           ) -> None:
    """Export LAYER from PostGIS to a partitioned GeoParquet dataset with a manifest."""
    from api.cli.database import open_engine
    from geo.batch.export import export_dataset
    from geo.batch.settings import BatchSettings
    from geo.settings import LocalTimeSettings, ServiceAreaSettings

    with open_engine() as engine:
        with _progress(f"export {layer}") as bar:
            task = bar.add_task(layer, total=None)

            def tick(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            manifest = export_dataset(engine, layer, folder, settings=BatchSettings(),
                                      area=ServiceAreaSettings(),
                                      timezone=LocalTimeSettings().local_timezone,
                                      partition=partition, progress=tick)
    typer.echo(f"{layer}: {manifest.rows} rows in {len(manifest.files)} files "
               f"({len({(f.month, f.cell) for f in manifest.files})} partitions) → {folder}")


@app.command("hotspots")
def hotspots(folder: Path = typer.Argument(..., help="incidents dataset folder"),
             out: Path = OUT, res: int = RES, k: int = K, from_: str = FROM, to: str = TO,
             category: str = CATEGORY, source: str = SOURCE,
             alpha: float = typer.Option(None, "--alpha", help="FDR level of the 95 % bin"),
             scheduler: str = SCHEDULER) -> None:
    """Gi* hot/cold spots over a dataset, equal to GET /api/v1/hotspots on the same data."""
    from geo.batch.cluster import dask_client, task_errors
    from geo.batch.hotspots import BatchHotspots
    from geo.batch.output import check_out, write_cells
    from geo.batch.settings import DaskSettings
    from geo.hotspots.params import hotspot_query
    from geo.hotspots.settings import HotspotSettings

    check_out(out)
    q = hotspot_query(HotspotSettings(), res=res, k=k, alpha=alpha, from_=from_, to=to,
                      category=category, source=source)
    with dask_client(DaskSettings(), scheduler=scheduler) as client, task_errors("batch hotspots"):
        job = BatchHotspots(client, folder, q)
        parts = job.count()
        _wait(parts, f"counting {len(parts)} files")
        job.finish(parts)
    write_cells(job.frame_, job.outlines_, out, job.parameters_)
    hot = int((job.frame_["bin"] > 0).sum())
    cold = int((job.frame_["bin"] < 0).sum())
    typer.echo(f"{len(job.frame_)} cells ({hot} hot, {cold} cold) from "
               f"{job.parameters_['incidents']} incidents → {out}")


@app.command("emerging")
def emerging(folder: Path = typer.Argument(..., help="incidents dataset folder"),
             out: Path = OUT, res: int = RES, k: int = K,
             step: str = typer.Option("week", "--step", help="week or month"),
             from_: str = FROM, to: str = TO, category: str = CATEGORY, source: str = SOURCE,
             time_window: int = typer.Option(None, "--time-window",
                                             help="previous steps in each bin's neighbourhood"),
             scheduler: str = SCHEDULER) -> None:
    """Emerging hot spots per week or month, equal to GET /api/v1/hotspots/emerging."""
    from geo.batch.cluster import dask_client
    from geo.batch.emerging import BatchEmerging
    from geo.batch.output import check_out, write_cells
    from geo.batch.settings import DaskSettings
    from geo.hotspots.params import emerging_query
    from geo.hotspots.settings import HotspotSettings

    check_out(out)
    q = emerging_query(HotspotSettings(), res=res, k=k, step=step, from_=from_, to=to,
                       category=category, source=source, time_window=time_window)
    with dask_client(DaskSettings(), scheduler=scheduler) as client:
        from rich.console import Console

        with Console(stderr=True).status("emerging hot spots on Dask…"):
            job = BatchEmerging(client, folder, q).run()
    write_cells(job.frame_, job.outlines_, out, job.parameters_)
    found = job.frame_["category"].value_counts().drop("none", errors="ignore")
    typer.echo(f"{len(job.frame_)} cells over {job.parameters_['steps']} {q.step}s "
               f"({', '.join(f'{n} {c}' for c, n in found.items()) or 'no pattern'}) → {out}")


@app.command("coverage")
def coverage(cameras: Path = typer.Argument(..., help="cameras dataset folder"),
             buildings: Path = typer.Argument(..., help="buildings dataset folder"),
             out: Path = typer.Option(..., "--out", help="camera views, GeoParquet (.parquet)"),
             scheduler: str = SCHEDULER) -> None:
    """Camera views per camera partition, equal to `onemap coverage refresh`.

    Each partition reads the buildings within its largest camera range (the halo).
    """
    from geo.batch.cluster import dask_client
    from geo.batch.coverage import BatchViews
    from geo.batch.output import check_out, write_cells
    from geo.batch.settings import DaskSettings

    check_out(out)
    with dask_client(DaskSettings(), scheduler=scheduler) as client:
        job = BatchViews(client, cameras, buildings)
        futures_done = job.run()
    frame = futures_done.frame_
    write_cells(frame.drop(columns="view"), frame["view"].to_numpy(), out,
                {"partitions": futures_done.partitions_.to_dict(orient="records")},
                geometry_types=("MultiPolygon",))
    blocked = int((frame["area_m2"] <= 0).sum())
    typer.echo(f"{len(frame)} camera views ({blocked} wholly blocked) from "
               f"{len(futures_done.partitions_)} partitions → {out}")
