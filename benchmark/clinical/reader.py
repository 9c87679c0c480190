"""A blinded reader study of a run's SR outputs (P4's mean opinion score, MOS, made testable).

``bench reader make RUN --out DIR`` (:func:`make_study`) writes

- ``DIR/index.html``: one self-contained static page (images inlined as 8-bit PNG data URIs, no
  network, no server). Every SR output of the run's ``samples/`` (one figure image per dataset and
  SR family) is an *item* with an opaque id; the page holds no model name. A reader types an ID; the
  item order is a seeded shuffle of ``seed:reader`` (so each reader has their own, reproducible
  order); each item gets a 1-5 score (P4's scale) and an optional "artefact seen" flag; ratings are
  kept in the browser's ``localStorage`` and downloaded as CSV (``page_id, reader, item, case,
  position, score, artefact, time``);
- ``DIR/key.json``: the unblinding key (item -> model, case, and the run rows the case stands for).
  Keep it away from the readers.

``bench reader score CSV... --run RUN`` (:func:`score_study`) unblinds the CSVs and writes
``RUN/reader/``: ``mos.csv`` (MOS per model with 95 % bootstrap CIs resampling readers and cases
together, the two random effects of a multi-reader multi-case study), ``pairs.csv`` (paired
comparisons of models over (reader, case) pairs: paired bootstrap CI + Wilcoxon signed-rank, as the
claims), ``agreement.json`` (Krippendorff's alpha, ordinal, over readers; the ``reader`` extra),
``imrmc.csv`` (the data frame iMRMC reads: ``readerID, caseID, modalityID, score``; a quality score
has no disease truth, so there are no ``truth`` rows: use iMRMC's truth-free mean-score analyses,
not ``doIMRMC``'s ROC) and ``mos_per_image.csv`` (per run row and model, the mean score over
readers), which ``bench report`` joins to ``per_image.csv`` as the ``mos`` column, so P4's MOS
cells get a verdict like any other cell.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

CSV_COLUMNS = ("page_id", "reader", "item", "case", "position", "score", "artefact", "time")
NOT_MODELS = {"lr", "hr"}


class ReaderError(ValueError):
    """Bad input to the reader study (one line naming the file)."""


def _png8_data_uri(path: Path) -> str:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ReaderError(f"{path}: unreadable PNG")
    if img.dtype != np.uint8:
        img = np.round(img.astype(np.float64) / 65535.0 * 255.0).astype(np.uint8)
    ok, png = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover
        raise ReaderError(f"{path}: cannot encode")
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode()


def _cases(run_dir: Path) -> dict[str, dict]:
    """``{samples_dir: {"targets": [run rows it stands for], "models": [...]}}`` from run.json."""
    meta_path = run_dir / "run.json"
    if not meta_path.is_file():
        raise ReaderError(f"{meta_path}: not found (expected a bench run directory)")
    meta = json.loads(meta_path.read_text())
    cases: dict[str, dict] = {}
    for vid, v in meta.get("variants", {}).items():
        sd = v.get("samples_dir")
        if not sd or not (run_dir / sd).is_dir():
            continue
        c = cases.setdefault(sd, {"targets": [], "models": sorted(
            p.stem for p in (run_dir / sd).glob("*.png") if p.stem not in NOT_MODELS)})
        c["targets"].append({"suite": v.get("suite"), "dataset": v.get("dataset"), "variant": vid,
                             "image_id": v.get("figure_image"), "split": v.get("split")})
    return cases


def make_study(run_dir: Path, out_dir: Path, seed: int = 0, title: str = "Blinded image-quality rating") -> dict:
    """Write ``out_dir/index.html`` and ``out_dir/key.json`` (see module doc); returns the key.

    Raises:
        ReaderError: no run.json, or no SR sample image in the run.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    cases = _cases(run_dir)
    items, key_items = [], {}
    for n, (sd, c) in enumerate(sorted(cases.items()), start=1):
        for model in c["models"]:
            iid = hashlib.sha256(f"{seed}:{sd}:{model}".encode()).hexdigest()[:12]
            items.append({"id": iid, "case": f"case{n}", "src": _png8_data_uri(run_dir / sd / f"{model}.png")})
            key_items[iid] = {"model": model, "case": f"case{n}", "samples_dir": sd, "targets": c["targets"]}
    if not items:
        raise ReaderError(f"{run_dir}: no SR sample images under samples/ (run bench run first)")
    items.sort(key=lambda x: x["id"])  # stored order carries no model information
    page_id = hashlib.sha256(json.dumps(sorted(key_items), separators=(",", ":")).encode()
                             + str(seed).encode()).hexdigest()[:12]
    data = {"page_id": page_id, "seed": str(seed), "items": items}
    html = (resources.files("medsr_bench.benchmark.clinical") / "reader_page.html").read_text()
    html = html.replace("__TITLE__", title).replace(
        "__DATA__", json.dumps(data, separators=(",", ":")).replace("</", "<\\/"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "index.html").write_text(html, encoding="utf-8")
    key = {"page_id": page_id, "seed": seed, "run": str(run_dir.resolve()), "items": key_items}
    (out_dir / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True) + "\n")
    return key


# ---------------------------------------------------------------- scoring
def read_ratings(paths: list[Path], key: dict) -> pd.DataFrame:
    """The rating CSVs unblinded: one row per (reader, item) with ``model`` and ``case`` (the last
    rating of a reader for an item wins).

    Raises:
        ReaderError: unreadable file, missing columns, a page id or item that is not in the key,
            a score outside 1-5.
    """
    frames = []
    for p in paths:
        try:
            df = pd.read_csv(p, dtype={"reader": str, "item": str, "page_id": str})
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            raise ReaderError(f"{p}: not a ratings CSV ({e})") from None
        missing = [c for c in CSV_COLUMNS if c not in df.columns]
        if missing:
            raise ReaderError(f"{p}: missing column(s) {', '.join(missing)}; expected {', '.join(CSV_COLUMNS)}")
        bad_page = set(df.page_id) - {key["page_id"]}
        if bad_page:
            raise ReaderError(f"{p}: page id {sorted(bad_page)[0]} is not this study's ({key['page_id']})")
        unknown = set(df["item"]) - set(key["items"])
        if unknown:
            raise ReaderError(f"{p}: item {sorted(unknown)[0]} is not in the key")
        if not df.score.between(1, 5).all():
            raise ReaderError(f"{p}: scores must be integers 1-5")
        frames.append(df)
    if not frames:
        raise ReaderError("no ratings CSV given")
    df = pd.concat(frames, ignore_index=True).drop_duplicates(["reader", "item"], keep="last")
    df["model"] = df["item"].map(lambda i: key["items"][i]["model"])
    df["case"] = df["item"].map(lambda i: key["items"][i]["case"])
    return df.reset_index(drop=True)


def mos_bootstrap(df: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """MOS per model with a 95 % percentile CI from a two-way bootstrap (readers and cases drawn
    with replacement, independently; each replicate's MOS is the mean over the drawn reader x case
    cells, with multiplicity). Columns: model, mos, ci_low, ci_high, n_ratings, n_readers, n_cases."""
    readers, cases = sorted(df.reader.unique()), sorted(df.case.unique())
    rng = np.random.default_rng(seed)
    out = []
    for model, g in df.groupby("model", sort=True):
        grid = g.pivot_table(index="reader", columns="case", values="score", aggfunc="mean") \
            .reindex(index=readers, columns=cases).to_numpy(float)
        reps = []
        for _ in range(n_boot):
            sub = grid[np.ix_(rng.integers(0, len(readers), len(readers)), rng.integers(0, len(cases), len(cases)))]
            if np.isfinite(sub).any():
                reps.append(np.nanmean(sub))
        lo, hi = (np.percentile(reps, [2.5, 97.5]) if reps else (np.nan, np.nan))
        out.append({"model": model, "mos": float(g.score.mean()), "ci_low": float(lo), "ci_high": float(hi),
                    "n_ratings": len(g), "n_readers": g.reader.nunique(), "n_cases": g.case.nunique()})
    return pd.DataFrame(out)


def agreement(df: pd.DataFrame) -> dict:
    """Krippendorff's alpha (ordinal level) over readers x items, or the reason it is missing."""
    try:
        import krippendorff
    except ImportError:
        return {"alpha_ordinal": None, "reason": "krippendorff not installed: pip install -e '.[reader]'"}
    m = df.pivot_table(index="reader", columns="item", values="score", aggfunc="mean")
    if m.shape[0] < 2:
        return {"alpha_ordinal": None, "reason": "one reader: agreement needs at least two"}
    try:
        a = float(krippendorff.alpha(reliability_data=m.to_numpy(float), level_of_measurement="ordinal"))
    except (ValueError, ZeroDivisionError) as e:
        return {"alpha_ordinal": None, "reason": f"undefined ({e})"}
    return {"alpha_ordinal": a, "n_readers": int(m.shape[0]), "n_items": int(m.shape[1]),
            "source": "krippendorff.alpha(level_of_measurement='ordinal')"}


def paired_comparisons(df: pd.DataFrame) -> pd.DataFrame:
    """Every model pair over the (reader, case) pairs both were rated on: mean difference, paired
    bootstrap 95 % CI and Wilcoxon p (``benchmark.report.verdicts.paired_test``), Holm-corrected."""
    from medsr_bench.benchmark.report.verdicts import holm, paired_test

    wide = df.pivot_table(index=["reader", "case"], columns="model", values="score", aggfunc="mean")
    models = list(wide.columns)
    rows = []
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            pair = wide[[a, b]].dropna()
            r = {"a": a, "b": b, "n_pairs": len(pair)}
            if len(pair) >= 2:
                t = paired_test(pair[a].to_numpy(float), pair[b].to_numpy(float), True)
                r.update({"mean_diff": t.mean_diff, "ci_low": t.ci_low, "ci_high": t.ci_high, "p": t.p_value})
            rows.append(r)
    out = pd.DataFrame(rows)
    if "p" in out and out.p.notna().any():
        ok = out.p.notna()
        out.loc[ok, "p_holm"] = holm(out.loc[ok, "p"].to_numpy(float))
    return out


@dataclass
class StudyResult:
    """What :func:`score_study` wrote."""

    mos: pd.DataFrame
    pairs: pd.DataFrame
    agreement: dict
    out_dir: Path


def score_study(csvs: list[Path], run_dir: Path, key_path: Path | None = None, n_boot: int = 2000,
                seed: int = 0) -> StudyResult:
    """Unblind and analyse rating CSVs; write ``RUN/reader/`` (see module doc).

    Args:
        csvs: the readers' downloaded CSVs.
        run_dir: the run the page was made from.
        key_path: the page's ``key.json`` (default: ``key.json`` beside the first CSV, else
            ``RUN/reader/key.json``).

    Raises:
        ReaderError: no key found, or bad CSVs (see :func:`read_ratings`).
    """
    run_dir = Path(run_dir)
    cands = [key_path] if key_path else [Path(csvs[0]).parent / "key.json", run_dir / "reader" / "key.json"]
    kp = next((Path(c) for c in cands if c and Path(c).is_file()), None)
    if kp is None:
        raise ReaderError(f"key.json not found (looked at {', '.join(map(str, cands))}); pass --key")
    key = json.loads(kp.read_text())
    df = read_ratings([Path(c) for c in csvs], key)
    out = run_dir / "reader"
    out.mkdir(parents=True, exist_ok=True)
    mos = mos_bootstrap(df, n_boot, seed)
    pairs = paired_comparisons(df)
    agr = agreement(df)
    mos.to_csv(out / "mos.csv", index=False)
    pairs.to_csv(out / "pairs.csv", index=False)
    (out / "agreement.json").write_text(json.dumps(agr, indent=1) + "\n")
    df.rename(columns={"reader": "readerID", "case": "caseID", "model": "modalityID"})[
        ["readerID", "caseID", "modalityID", "score"]].to_csv(out / "imrmc.csv", index=False)
    rows = []
    for (item, model), g in df.groupby(["item", "model"]):
        for t in key["items"][item]["targets"]:
            rows.append({**t, "model": model, "mos": float(g.score.mean()), "n_readers": g.reader.nunique(),
                         "artefact_rate": float(g.artefact.mean())})
    pd.DataFrame(rows).to_csv(out / "mos_per_image.csv", index=False)
    if kp.resolve() != (out / "key.json").resolve():
        (out / "key.json").write_text(kp.read_text())
    return StudyResult(mos, pairs, agr, out)
