"""The demo's summary and progress lines, from a real (small) Dagster run: table sizes, checks per severity, the
report files, and a progress line per finished step when asked that often."""

from __future__ import annotations

import dagster as dg

from etl_assets.demo import PeriodicProgress, RunSummary, table_size, with_step_events


def test_summary_lines_show_sizes_checks_per_severity_and_report_files() -> None:
    summary = RunSummary(
        success=False, seconds=12.34, run_id="r1", materialized=["raw/s/t", "reports/quality"],
        rows={"raw/s/t": (3000, 1), "stream/k/topic": (None, 0)},
        failed_checks=["profile/s/t:null_share (WARN)"],
        checks={(True, "ERROR"): 5, (True, "WARN"): 2, (False, "WARN"): 1},
        report_files={"reports/quality": ["/out/quality.html", "/out/quality.json"],
                      "reports/analysis": ["/out/analysis.md"]})

    assert summary.lines() == [
        "Run r1 FAILED in 12.3 s: 2 assets materialized.",
        f"  {'raw/s/t':<45}     3000 rows  (1 written by this run)",
        f"  {'stream/k/topic':<45}        ? rows  (0 written by this run)",
        "Checks: ERROR 5 passed, 0 failed; WARN 2 passed, 1 failed.",
        "  failed check: profile/s/t:null_share (WARN)",
        "Reports written to /out:",
        f"  {'reports/analysis':<20} analysis.md",
        f"  {'reports/quality':<20} quality.html, quality.json",
    ]
    assert RunSummary(success=True, seconds=1).lines()[-2:] == ["Checks: none evaluated.", "Reports: none written."]


def test_table_size_reads_row_count_and_rows_written() -> None:
    metadata = {"dagster/row_count": dg.IntMetadataValue(40), "rows_written": dg.IntMetadataValue(2)}
    assert table_size(metadata) == (40, 2)
    assert table_size({}) == (None, None)


def test_progress_prints_finished_steps_and_keeps_the_console_quiet() -> None:
    @dg.asset
    def upstream() -> int:
        return 1

    @dg.asset
    def downstream(upstream: int) -> int:
        return upstream + 1

    defs = dg.Definitions(assets=[upstream, downstream], jobs=[dg.define_asset_job("both")])
    printed: list[str] = []
    job = defs.resolve_job_def("both")
    job, run_config = with_step_events(job, PeriodicProgress(len(job.graph.nodes), printed.append, every_s=0.0))

    result = job.execute_in_process(run_config=run_config)

    assert result.success
    assert run_config["loggers"]["console"] == {"config": {"log_level": "WARNING"}}
    assert [line.split(" after ")[0] for line in printed] == ["  ... 1 of 2 steps done", "  ... 2 of 2 steps done"]
    assert printed[-1].endswith("(last: downstream)")
