"""The run directory: one writer (a lock), its recorded configurations, parts, merge and status.

Layout::

    DIR/run.json         every configuration run here, variants, datasets, models, provenance
    DIR/plan.json        the tasks of the current plan (key, protocol, shard, model): bench status
    DIR/parts/<key>.json one finished task (rows, timings, figures); .running / .failed markers
    DIR/per_image.csv    merged rows, one fixed sort order (byte-identical whatever the executor)
    DIR/summary.csv      mean / std / n per (suite, dataset, variant, model, metric)
    DIR/timings.csv      seconds per image and model (kept out of the tables so they stay identical)
    DIR/samples/<sr>/<image>/{lr,hr,<model>}.png   16-bit figure images

Only :func:`merge` writes the tables, from the parts of the planned tasks, so whatever the executor,
the number of workers or the order shards finished, the tables are the same bytes.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from medsr_bench.benchmark.results_io import (
    ID_COLUMNS,
    TAIL_COLUMNS,
    _csv_text,
    format_value,
    summarise,
    write_summary,
)
from medsr_bench.benchmark.tasks import Plan, RunError, Task
from medsr_bench.core import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    now_iso,
    sha256_file,
)
from medsr_bench.models import get_spec

LOCK = ".lock"
#: The degenerate-pair policy, as run.json and the report state it.
DEGENERATE_POLICY = ("pairs with a constant HR (zero variance) or an infinite metric value are "
                     "scored but excluded from every mean and counted (status degenerate)")
HOLDER = ".lock.json"


class RunDirLock:
    """Exclusive lock of a run directory (``filelock``; the OS drops it when the holder dies).

    Args:
        out: the run directory.
        wait: block until the holder finishes instead of failing.

    Raises (on ``acquire``):
        RunError: another live process holds it (the message names pid, host, command and start).
    """

    def __init__(self, out: Path, wait: bool = False):
        from filelock import FileLock

        self.out = Path(out)
        self.wait = wait
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.out / LOCK))
        self.stale: dict | None = None

    def _holder(self) -> dict:
        try:
            return json.loads((self.out / HOLDER).read_text())
        except (OSError, ValueError):
            return {}

    def acquire(self) -> RunDirLock:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=-1 if self.wait else 0)
        except Timeout:
            h = self._holder()
            who = (f"pid {h.get('pid', '?')} on {h.get('host', '?')} ({h.get('command', 'bench run')}, "
                   f"since {h.get('since', '?')})") if h else "another process"
            raise RunError(f"{self.out} is in use by {who}; wait for it (--wait) or use another "
                           "--out") from None
        prev = self._holder()
        if prev and not _alive(prev):
            self.stale = prev  # a killed run left its holder note; the OS already freed the lock

        atomic_write_json(self.out / HOLDER, {"pid": os.getpid(), "host": socket.gethostname(),
                                              "command": " ".join(sys.argv[:6]), "since": now_iso()})
        return self

    def release(self) -> None:
        (self.out / HOLDER).unlink(missing_ok=True)
        self._lock.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _alive(holder: dict) -> bool:
    """Whether the holder process still runs (only knowable on the same host)."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder.get("pid", -1)), 0)
    except (OSError, ValueError):
        return False
    return True


# ---------------------------------------------------------------- identity
def load_meta(out: Path) -> dict:
    """run.json's dict ({} when absent).

    Raises:
        RunError: run.json is not valid JSON.
    """
    path = Path(out) / "run.json"
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: not valid JSON ({e}); use another --out") from e
    except OSError as e:
        raise RunError(f"{path}: unreadable ({e.strerror or e})") from e
    if not isinstance(meta, dict):
        raise RunError(f"{path}: a JSON {type(meta).__name__}, expected an object written by "
                       "`bench run`; use another --out")
    return meta


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that cannot hold a run before any work starts.

    Raises:
        RunError: ``out`` names a file, or cannot be created or written (read-only, no space).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out}: is a file, expected a run directory (a folder)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as e:
        raise RunError(f"--out {out}: cannot write there ({e.strerror or e}); expected a writable "
                       "folder with free space") from e


# ---------------------------------------------------------------- table digests
TABLES = ("per_image.csv", "summary.csv")


def table_digests(out: Path) -> dict[str, str]:
    """sha256 of the tables :func:`merge` writes (absent ones left out)."""

    return {n: sha256_file(Path(out) / n) for n in TABLES if (Path(out) / n).is_file()}


def table_problem(out: Path, meta: dict) -> str | None:
    """One line when the tables are not the ones run.json was merged with (a merge killed half
    way, a table edited or removed), else None. Runs without recorded digests are not checked."""
    want = meta.get("tables")
    if not isinstance(want, dict):
        return None
    out = Path(out)
    missing = [n for n in want if not (out / n).is_file()]
    if missing:
        return (f"{out / missing[0]}: missing (run.json was merged with it); re-run the same "
                "`bench run` to rewrite the tables from parts/")
    have = table_digests(out)
    bad = [n for n in want if have.get(n) != want[n]]
    if bad:
        return (f"{out}: {' and '.join(bad)} do not match run.json (a merge was interrupted or a "
                "table was edited); re-run the same `bench run` to merge again")
    return None


def digests_missing(out: Path, meta: dict) -> str | None:
    """One line when ``run.json`` is a run's but records no table digests (a run dir written
    before they existed): what is missing and how to add it (re-running the recorded command
    merges the parts again and records them); None when digests are recorded or when there are
    no tables to check."""
    out = Path(out)
    if not isinstance(meta, dict) or isinstance(meta.get("tables"), dict) or not meta:
        return None
    present = [n for n in TABLES if (out / n).is_file()]
    if not present:
        return None
    cmd = meta.get("command")
    again = "the same `bench run`"
    if isinstance(cmd, list) and len(cmd) > 1:
        args = [str(a) for a in cmd[1:]]
        for i, a in enumerate(args[:-1]):  # the run dir may have moved since
            if a in ("--out", "-o"):
                args[i + 1] = str(out)
        again = "`bench " + " ".join(args) + "`"
    return (f"{out / 'run.json'}: records no digests of {' and '.join(present)} (a run dir from "
            f"before they were recorded), so they cannot be checked against it; re-run {again} "
            "to merge the tables again from parts/ and record them")


def describe_difference(old: dict, new: dict) -> str:
    """One line naming what differs between two configuration identities."""
    diffs = []
    for k in ("suites", "models", "data_root", "limit", "strict"):
        if old.get(k) != new.get(k):
            a, b = old.get(k), new.get(k)
            if isinstance(a, list) and isinstance(b, list):
                a, b = ",".join(a), ",".join(b)
            diffs.append(f"{k} {b} (recorded: {a})")
    so, sn = old.get("settings", {}), new.get("settings", {})
    for k in sorted(set(so) | set(sn)):
        if so.get(k) != sn.get(k):
            diffs.append(f"{k}={sn.get(k, 'default')} (recorded: {so.get(k, 'default')})")
    return "; ".join(diffs) or "nothing"


def check_identity(meta: dict, identities: list[dict], add: bool, out: Path) -> list[dict]:
    """The configurations the run dir will hold after this command (``identities``: one per
    ``bench run``, one per grid point of a sweep).

    Raises:
        RunError: an identity differs from every recorded configuration and ``add`` is False (the
            line names what differs from the most recent one).
    """
    configs = list(meta.get("configs", []))
    if not configs and meta:  # a run dir written before configurations were recorded
        raise RunError(f"{out}: holds a run from an older medsr-bench without a recorded "
                       "configuration; use another --out")
    if not configs:
        return list(identities)
    new = [i for i in identities if i not in configs]
    if not new:
        return configs
    if add:
        return [*configs, *new]
    raise RunError(f"{out}: holds another configuration; differs in: "
                   f"{describe_difference(configs[-1], new[0])}. Re-run with the same options to "
                   "resume, add --add to add these variants/models beside it, or use another --out")


# ---------------------------------------------------------------- parts
def parts_dir(out: Path) -> Path:
    return Path(out) / "parts"


def expected_rows(t: Task) -> int | None:
    """Rows a complete part of ``t`` holds (images x scorings), None when the images are not
    known at plan time (no prepared cache)."""
    return len(t.image_ids) * len(t.scorings) if t.image_ids else None


def part_problem(part, key: str, n_rows: int | None = None) -> str | None:
    """Why a part file's content cannot count as its task's result (None when it can): not an
    object, another key, no ``rows`` list, or not the ``n_rows`` rows its task produces."""
    if not isinstance(part, dict):
        return f"a JSON {type(part).__name__}, expected an object"
    if part.get("key") != key:
        return f"key {part.get('key')!r}, expected {key!r}"
    rows = part.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return "no rows list"
    if not isinstance(part.get("timings", []), list):
        return "no timings list"
    if n_rows is not None and len(rows) != n_rows:
        return f"{len(rows)} rows, expected {n_rows}"
    return None


def read_part(out: Path, key: str, complete: bool = True, n_rows: int | None = None) -> dict | None:
    """The part of task ``key`` when it exists, is readable and valid (:func:`part_problem`; a
    part without its rows is not done) and, with ``complete``, has no failed batch: such a part's
    error rows are shown, but resume computes the task again."""
    p = parts_dir(out) / f"{key}.json"
    try:
        part = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if part_problem(part, key, n_rows) is not None or (complete and not part.get("complete", False)):
        return None
    return part


def done_keys(out: Path, tasks: Iterable[Task]) -> set[str]:
    """Keys of the tasks whose complete, valid part exists."""
    return {t.key for t in tasks if read_part(out, t.key, n_rows=expected_rows(t)) is not None}


#: the fields of a variant's run.json entry that plan.json repeats (what data each protocol reads,
#: stand-ins named: ``bench status`` shows them before any part is merged into run.json)
PLAN_VARIANT_FIELDS = ("suite", "protocol", "split", "dataset", "stand_in_for", "note")


def write_plan(out: Path, plan: Plan) -> None:
    """Write ``plan.json``: ``{"tasks": [{key, protocol, split, shard, model, n_images, n_rows,
    plan_status}], "variants": {variant id: {field: value} of :data:`PLAN_VARIANT_FIELDS`}}``."""
    atomic_write_json(Path(out) / "plan.json", {"tasks": [
        {"key": t.key, "protocol": t.protocol, "split": t.split, "shard": list(t.shard),
         "model": t.model, "n_images": len(t.image_ids), "n_rows": expected_rows(t),
         "plan_status": t.plan_status}
        for t in plan.tasks], "variants": {
        vid: {k: e.get(k) for k in PLAN_VARIANT_FIELDS} for vid, e in plan.variants.items()}})


def planned_variants(out: Path) -> dict:
    """``{"variants": {variant id: entry}}`` of a run dir: plan.json's (written before any task
    runs), else run.json's (a run dir planned before plan.json recorded them); ``{}`` when
    neither is readable. The shape :func:`~medsr_bench.benchmark.report.rundata.stand_in_notes`
    reads."""
    for name in ("plan.json", "run.json"):
        try:
            v = json.loads((Path(out) / name).read_text()).get("variants")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(v, dict) and v:
            return {"variants": v}
    return {}


def status(out: Path) -> dict:
    """Counts of done / running / failed / pending tasks (from plan.json and parts/).

    Raises:
        RunError: no plan.json (not a run directory, or one that never planned).
    """
    out = Path(out)
    try:
        planned = json.loads((out / "plan.json").read_text())["tasks"]
    except (OSError, ValueError, KeyError, TypeError):
        raise RunError(f"{out}: no plan.json (expected a folder written by `bench run`)") from None
    if not isinstance(planned, list) or not all(isinstance(t, dict) and "key" in t for t in planned):
        raise RunError(f"{out / 'plan.json'}: expected a list of tasks written by `bench run`")
    res = {"done": [], "running": [], "failed": [], "pending": []}
    pd_ = parts_dir(out)
    for t in planned:
        k = t["key"]
        if read_part(out, k, n_rows=t.get("n_rows")) is not None:
            res["done"].append(t)
        elif (pd_ / f"{k}.running").exists() and _running_alive(pd_ / f"{k}.running"):
            res["running"].append(t)
        elif (pd_ / f"{k}.failed").exists():
            try:
                t = {**t, "error": json.loads((pd_ / f"{k}.failed").read_text()).get("error", "")}
            except (OSError, ValueError):
                pass
            res["failed"].append(t)
        else:
            res["pending"].append(t)
    return res


def mark_failed(out: Path, t: Task, error: str) -> None:
    """Leave the ``.failed`` note of a task whose bundle failed after its retries (the driver
    writes it too, so a shard that failed before its task started - reading its samples, a
    worker that died - is shown failed with its error, not pending)."""
    marker = parts_dir(out) / f"{t.key}.failed"
    if read_part(out, t.key, n_rows=expected_rows(t)) is not None:
        return
    atomic_write_json(marker, {"host": socket.gethostname(), "error": error,
                               "task": t.describe(), "at": time.time()})


def _running_alive(marker: Path) -> bool:
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return _alive(info)


# ---------------------------------------------------------------- merge
def _rank(values: Iterable) -> dict:
    return {v: i for i, v in enumerate(dict.fromkeys(values))}


def merge(out: Path, plan: Plan, meta: dict) -> dict:
    """Write per_image.csv, summary.csv, timings.csv, samples/ and run.json from the parts of
    ``plan``'s tasks; returns run.json's dict. Rows are deduplicated on (suite, dataset, variant,
    image_id, model) and sorted by suite order, dataset (plan order), variant, model order and
    image id, so the bytes do not depend on the executor or the order parts finished."""
    out = Path(out)
    rows: dict[tuple, dict] = {}
    timings: dict[tuple, dict] = {}
    models: dict[str, dict] = {}
    figures: dict[str, dict] = {}  # sr_key -> {lr, hr, <model>: b64}
    done, pending = 0, 0
    for t in plan.tasks:
        part = read_part(out, t.key, complete=False, n_rows=expected_rows(t))
        if part is None:
            pending += 1
            continue
        done += part.get("complete", False)
        for r in part["rows"]:
            rows[(r["suite"], r["dataset"], r["variant"], r["image_id"], r["model"])] = r
        for tm in part["timings"]:
            timings[(part["dataset"], t.params_hash, t.model, tm["image_id"])] = {
                "dataset": part["dataset"], "params_hash": t.params_hash, "model": t.model,
                "image_id": tm["image_id"], "seconds": tm["seconds"], "device": part["device"],
                "host": part["host"]}
        m = part.get("model", {})
        prev = models.get(t.model)
        if m and (prev is None or prev.get("status") != "ok"):
            models[t.model] = m
        if part.get("figures"):
            f = figures.setdefault(_family(t), {"dataset": part["dataset"], "image": t.figure_image})
            for k, v in part["figures"].items():
                f[t.model if k == "sr" else k] = v
    suite_rank = _rank(plan.suites)
    var_rank = _rank(plan.variants)
    model_rank = _rank([*plan.models, *(k[4] for k in rows)])
    ds_rank = _rank(v.get("dataset", v["protocol"]) for v in plan.variants.values())
    ordered = sorted(rows.values(), key=lambda r: (
        suite_rank.get(r["suite"], 1e9), ds_rank.get(r["dataset"], 1e9),
        var_rank.get(r["variant"], 1e9), model_rank[r["model"]], r["image_id"]))
    metric_cols = list(plan.metric_names)
    seen = {k for r in ordered for k in r}
    region_cols = sorted(k for k in seen if "@" in k)  # <metric>@<region>: diagnostic regions
    metric_cols += region_cols
    extra = sorted(seen - set(ID_COLUMNS) - set(metric_cols) - set(TAIL_COLUMNS) - {"seconds"})
    columns = [*ID_COLUMNS, *metric_cols, "note", *extra]
    cells = [[format_value(r.get(c)) for c in columns] for r in ordered]
    atomic_write_text(out / "per_image.csv", _csv_text(columns, cells))
    df = pd.DataFrame(ordered, columns=columns) if ordered else pd.DataFrame(columns=columns)
    write_summary(out / "summary.csv", summarise(df, metric_cols, list(model_rank)))
    tcols = ["dataset", "params_hash", "model", "image_id", "seconds", "device", "host"]
    trows = [timings[k] for k in sorted(timings)]
    atomic_write_text(out / "timings.csv",
                      _csv_text(tcols, [[format_value(r[c]) for c in tcols] for r in trows]))
    # figures: one folder per SR family (protocol params + model options), shared by variants
    fam_dirs = {}
    for fam, f in figures.items():
        d = out / "samples" / f"{f['dataset']}-{fam[:8]}" / f["image"]
        for k, v in f.items():
            if k in ("dataset", "image") or v.endswith(".png"):  # a file store_figures wrote
                continue
            p = d / f"{k}.png"
            data = base64.b64decode(v)
            if not p.exists() or p.read_bytes() != data:
                atomic_write_bytes(p, data)
        fam_dirs[fam] = d.relative_to(out).as_posix()
    meta = _finish_meta(meta, plan, rows.values(), models, fam_dirs, done, pending)
    meta["tables"] = table_digests(out)  # readers check the tables are the ones merged here
    atomic_write_json(out / "run.json", meta)
    return meta


def _family(t: Task) -> str:
    from medsr_bench.benchmark.execute import figure_family  # lazy: execute imports rundir

    return figure_family(t)


def _copy_training_logs(meta: dict, models: dict) -> None:
    """Copy the training curves of the ``bench train`` checkpoints a run used into
    ``<run dir>/training/<model>.csv`` (the report plots them); the run dir is ``meta["out"]``."""
    import shutil

    out = meta.get("out")
    wd = meta.get("weights_dir")
    if not out or not wd:
        return
    for name, e in models.items():
        rec = ((e.get("info") or {}).get("weights") or {}).get("trained") or {}
        src = Path(wd) / "trained" / rec["log_file"] if rec.get("log_file") else None
        if src is not None and src.is_file():
            dest = Path(out) / "training" / f"{name}.csv"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)


def _finish_meta(meta: dict, plan: Plan, rows, models: dict, fam_dirs: dict, done: int,
                 pending: int) -> dict:

    per_variant: dict[str, dict] = {}
    for r in rows:
        v = per_variant.setdefault(r["variant"], {"images": set(), "ok_models": set(),
                                                  "degenerate": {}})
        if r["status"] == "degenerate":
            v["degenerate"].setdefault(r["image_id"], r.get("note", ""))
        if r["status"] == "ok":
            v["images"].add(r["image_id"])
            v["ok_models"].add(r["model"])
    variants = {}
    fam_by_variant = {}
    for t in plan.tasks:
        for sc in t.scorings:
            fam_by_variant.setdefault(sc.variant, _family(t))
    for vid, e in plan.variants.items():
        e = dict(e)
        pv = per_variant.get(vid, {"images": set(), "ok_models": set(), "degenerate": {}})
        e["n_evaluated"] = len(pv["images"])
        e["n_degenerate"] = len(pv["degenerate"])
        if pv["degenerate"]:
            reasons: dict[str, int] = {}
            for note in pv["degenerate"].values():
                why = note.split(";")[0].removeprefix("degenerate pair: ")
                reasons[why] = reasons.get(why, 0) + 1
            e["degenerate"] = {"policy": DEGENERATE_POLICY, "reasons": reasons,
                               "images": sorted(pv["degenerate"])}
        e["models_computed"] = sorted(pv["ok_models"])
        e["samples_dir"] = fam_dirs.get(fam_by_variant.get(vid, ""), "")
        if e.get("status") == "planned":
            e["status"] = "done" if pending == 0 else "incomplete"
            if pending == 0 and not pv["images"] and not any(
                    r["variant"] == vid and r["status"] != "ok" for r in rows):
                e["status"], e["reason"] = "empty", "no image was evaluated"
        variants[vid] = e
    model_entries = {}
    for name in plan.models:
        spec = get_spec(name)
        entry = {"family": spec.family, "description": spec.description, "paper": spec.paper,
                 "native_scale": spec.scale, "in_channels": spec.in_channels}
        if spec.pretrained is not None:
            entry.update(weights_file=spec.pretrained.file, expected_sha256=spec.pretrained.sha256,
                         url=spec.pretrained.url, obtain=spec.pretrained.obtain)
        m = models.get(name, {})
        entry["status"] = m.get("status", "not-run")
        if m.get("note"):
            entry["note"] = m["note"]
        if m.get("info"):
            entry["info"] = m["info"]
            loaded = m["info"].get("weights") if isinstance(m["info"], dict) else None
            if isinstance(loaded, dict) and loaded.get("file"):  # the file actually loaded
                entry["weights_file"] = loaded["file"]
        errs = [r for r in rows if r["model"] == name and r["status"] == "error"]
        if errs:  # a batch failed in some task, even when other tasks of the model were ok
            entry["n_error_rows"] = len(errs)
            entry["error"] = errs[0].get("note", "")
        if entry["status"] == "unsupported-scale":  # on some protocols only: not a model status
            entry["status"] = "ok" if any(r["model"] == name and r["status"] == "ok"
                                          for r in rows) else "unsupported-scale"
        model_entries[name] = entry
    datasets: dict[str, dict] = {}
    for vid, e in variants.items():  # one entry per protocol (the first variant): old readers
        datasets.setdefault(e["protocol"], {**e, "variant": vid, "config": {"split": e["split"]}})
    _copy_training_logs(meta, model_entries)
    meta.update(variants=variants, datasets=datasets, models=model_entries,
                suites=plan.suites, model_order=list(plan.models),
                tasks={"total": len(plan.tasks), "done": done, "pending": pending},
                seeds={e["protocol"]: {k: v for k, v in e["params"].items() if "seed" in k}
                       for e in variants.values()},
                merged_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    meta["clinical"] = _clinical_meta(plan)  # issue 21: the clinical evaluators' settings
    return meta


def _clinical_meta(plan: Plan) -> dict:
    """run.json's ``clinical``: the resolved :class:`ClinicalSettings` and every evaluator used."""
    from medsr_bench.benchmark.clinical import clinical_meta

    return clinical_meta(plan.tasks[0].clinical if plan.tasks else {})
