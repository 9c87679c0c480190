"""Whole-pipeline benchmarks: where a run's time goes (``bench perf --pipeline``) and how the
executors scale (``bench perf --scaling``).

Both run real ``bench run`` configurations into temporary run dirs. The prepared sets are built
once first (into a shared cache), so the figures measure evaluation, not preparation; numbers are
printed side by side from one invocation on one machine (the machine line names it), so read
ratios, not absolute times, when the cores are shared.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

from medsr_bench.benchmark import execute, runner
from medsr_bench.benchmark.executors import ExecutorOptions
from medsr_bench.benchmark.tasks import RunConfig, plan
from medsr_bench.core import machine_description


def _prepare(cfg: RunConfig) -> None:
    """Build the prepared sets of ``cfg`` (excluded from every timing)."""
    plan(replace(cfg, show_progress=False))


def _timed_run(cfg: RunConfig, executor: str, opts: ExecutorOptions) -> tuple[float, dict, object]:

    t0 = time.perf_counter()
    res = runner.run(cfg, executor=executor, opts=opts)
    return time.perf_counter() - t0, res.meta, res


def _images(meta: dict) -> int:
    """Images x models evaluated (ok rows of one scoring each)."""
    return sum(v.get("n_evaluated", 0) * len(v.get("models_computed", []))
               for v in meta.get("variants", {}).values())


def pipeline_profile(cfg: RunConfig) -> dict:
    """One in-process run (one worker) of ``cfg`` with the split of its time.

    Returns:
        ``{"wall": s, "images": n (image x model evaluations), "images_per_s": r, "phases":
        {"read", "sr", "metrics", "write", "merge", "other"}: seconds}`` where ``read`` is loading
        prepared samples, ``sr`` the model calls, ``metrics`` every metric and region metric,
        ``write`` storing parts, ``merge`` writing the tables and ``other`` the rest (planning,
        model loading, process overhead).
    """
    import json


    _prepare(cfg)
    execute.WRITE_SECONDS[0] = execute.READ_SECONDS[0] = 0.0
    wall, meta, res = _timed_run(cfg, "local", ExecutorOptions(workers=1))
    phases = {"read": execute.READ_SECONDS[0], "sr": 0.0, "metrics": 0.0}
    for f in (Path(cfg.out) / "parts").glob("*.json"):
        for k, v in json.loads(f.read_text()).get("phases", {}).items():
            phases[k] = phases.get(k, 0.0) + v
    phases["write"] = execute.WRITE_SECONDS[0]
    phases["merge"] = res.merge_seconds
    phases["other"] = max(0.0, wall - sum(phases.values()))
    n = _images(meta)
    return {"wall": wall, "images": n, "images_per_s": n / wall if wall else 0.0, "phases": phases}


def scaling(cfg: RunConfig, setups: list[tuple[str, int]], shard_sizes: tuple[int, int] = (8, 64),
            ) -> dict:
    """Images/s of ``cfg`` on each ``(executor, workers)`` setup, and the per-shard overhead.

    The overhead is measured on the local executor with one worker: the wall-time difference of
    ``shard_sizes[0]`` vs ``shard_sizes[1]`` images per shard divided by the difference in shard
    count.

    Returns:
        ``{"rows": [{"executor", "workers", "wall", "images", "images_per_s", "speedup"}],
        "shard_overhead_s": s, "shards": (n_small, n_large), "machine": text}``.
    """
    _prepare(cfg)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        for i, (ex, workers) in enumerate(setups):
            c = replace(cfg, out=Path(tmp) / f"{i}-{ex}-{workers}", show_progress=False)
            wall, meta, _ = _timed_run(c, ex, ExecutorOptions(workers=workers))
            n = _images(meta)
            rows.append({"executor": ex, "workers": workers, "wall": wall, "images": n,
                         "images_per_s": n / wall if wall else 0.0})
        base = rows[0]["images_per_s"] or 1.0
        for r in rows:
            r["speedup"] = r["images_per_s"] / base
        walls, shards = [], []
        for size in shard_sizes:
            c = replace(cfg, out=Path(tmp) / f"shard-{size}", shard_size=size, show_progress=False)
            wall, meta, _ = _timed_run(c, "local", ExecutorOptions(workers=1))
            walls.append(wall)
            shards.append(meta.get("tasks", {}).get("total", 0))
    overhead = (walls[0] - walls[1]) / (shards[0] - shards[1]) if shards[0] != shards[1] else 0.0
    return {"rows": rows, "shard_overhead_s": overhead, "shards": tuple(shards),
            "shard_walls": tuple(walls), "machine": machine_description("cpu")}


def pipeline_markdown(p: dict, command: str) -> str:
    """The pipeline profile as a Markdown table with the command and machine."""
    lines = [f"Command: `{command}`", f"Machine: {machine_description('cpu')}", "",
             f"Wall {p['wall']:.1f} s for {p['images']} image x model evaluations: "
             f"**{p['images_per_s']:.2f} images/s** end to end (one worker).", "",
             "| phase | seconds | share |", "|---|---|---|"]
    total = sum(p["phases"].values()) or 1.0
    for k, v in p["phases"].items():
        lines.append(f"| {k} | {v:.2f} | {100 * v / total:.0f} % |")
    return "\n".join(lines) + "\n"


def scaling_markdown(s: dict, command: str) -> str:
    """The scaling table as Markdown with the command and machine."""
    lines = [f"Command: `{command}`", f"Machine: {s['machine']}", "",
             "| executor | workers | wall (s) | image x model evaluations | images/s | vs first |",
             "|---|---|---|---|---|---|"]
    for r in s["rows"]:
        lines.append(f"| {r['executor']} | {r['workers']} | {r['wall']:.1f} | {r['images']} | "
                     f"{r['images_per_s']:.2f} | {r['speedup']:.2f}x |")
    lines += ["", f"Shard overhead: {s['shard_overhead_s'] * 1000:.0f} ms per task (local, one "
                  f"worker: {s['shards'][0]} tasks in {s['shard_walls'][0]:.1f} s vs "
                  f"{s['shards'][1]} tasks in {s['shard_walls'][1]:.1f} s)."]
    return "\n".join(lines) + "\n"
