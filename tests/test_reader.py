"""Blinded reader study end to end: ``bench reader make`` writes the page, a scripted reader in
headless Chromium rates every image through the page's own controls, the page's CSV is scored by
``bench reader score``, and the report's P4 MOS cells turn from "testable with your readers" into
verdicts. Skips with a reason when Chromium is absent (``apt-get install -y chromium``)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from medsr_bench.benchmark.clinical.reader import (
    ReaderError,
    make_study,
    mos_bootstrap,
    read_ratings,
    score_study,
)
from medsr_bench.benchmark.report.browser import _chromium, find_chromium
from tests.data_fixtures import write_png

MODELS = ("bicubic", "srresnet", "srgan")

# A scripted reader: types an ID, rates every image with the page's radio buttons (the score is
# read from the image itself, the only thing a reader sees: its mean grey level), flags artefacts on
# odd positions, then collects the page's CSV and clicks the download button.
_SCRIPTED_READERS = """
<script>
window.addEventListener('load', () => {
  const out = {csv: {}, orders: {}, href: '', errors: []};
  try {
  const cv = document.createElement('canvas'); const ctx = cv.getContext('2d');
  for (const name of ['alice', 'bob', 'carol']) {
    document.getElementById('reader').value = name;
    document.getElementById('start').click();
    out.orders[name] = [];
    for (let k = 0; k < STUDY.items.length; k++) {
      const im = document.querySelector('#preload img[data-item="' + order[pos] + '"]');
      if (im.src !== document.getElementById('img').src) throw new Error('stage shows another image');
      cv.width = im.naturalWidth; cv.height = im.naturalHeight; ctx.drawImage(im, 0, 0);
      const px = ctx.getImageData(0, 0, cv.width, cv.height).data; let s = 0;
      for (let i = 0; i < px.length; i += 4) s += px[i];
      const grey = s / (px.length / 4) / 255;
      const bump = name === 'bob' ? 0.1 : 0;
      const score = Math.max(1, Math.min(5, Math.round(1 + 4 * grey + bump)));
      document.querySelector('input[name=score][value="' + score + '"]').checked = true;
      document.getElementById('artefact').checked = (k % 2 === 1);
      out.orders[name].push(order[pos]);
      document.getElementById('next').click();
    }
    out.csv[name] = csvText();
    document.getElementById('download').click();
    out.href = document.getElementById('link').href;
    out.done = !document.getElementById('done').classList.contains('hidden');
    document.getElementById('login').classList.remove('hidden');
  }
  } catch (e) { out.errors.push(String(e)); }
  const pre = document.createElement('pre'); pre.id = 'scripted-reader';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>
"""


def _fake_run(root, n_cases=2):
    """A run dir with run.json and samples/: per case one SR PNG per model whose grey level encodes
    the model (srresnet brightest), so the scripted reader's scores have a known order."""
    levels = {"bicubic": 0.3, "srgan": 0.55, "srresnet": 0.95}
    variants = {}
    for c in range(n_cases):
        sd = f"samples/ct-{c}/img{c}"
        (root / sd).mkdir(parents=True)
        for m in MODELS:
            write_png(root / sd / f"{m}.png", np.full((24, 24), int(levels[m] * 255), np.uint8))
        write_png(root / sd / "hr.png", np.zeros((24, 24), np.uint8))
        variants[f"v{c}"] = {"suite": "beallor", "dataset": "ct-head-standin", "split": "test",
                             "figure_image": f"img{c}", "samples_dir": sd}
    (root / "run.json").write_text(json.dumps({"variants": variants}))
    return root


def test_page_is_blinded_and_self_contained(tmp_path):
    run = _fake_run(tmp_path / "run")
    key = make_study(run, tmp_path / "page", seed=7)
    html = (tmp_path / "page" / "index.html").read_text()
    assert len(key["items"]) == 2 * len(MODELS)
    for m in MODELS:
        assert m not in html  # no model name anywhere in the page
    assert "http://" not in html and "https://" not in html  # nothing is fetched or sent
    assert html.count("data:image/png;base64,") == len(key["items"])
    with pytest.raises(ReaderError, match="run.json"):
        make_study(tmp_path / "nope", tmp_path / "p2")


def test_bad_ratings_csv_is_one_error_line(tmp_path):
    run = _fake_run(tmp_path / "run")
    key = make_study(run, tmp_path / "page")
    bad = tmp_path / "bad.csv"
    bad.write_text("page_id,reader,item\nx,y,z\n")
    with pytest.raises(ReaderError, match="missing column"):
        read_ratings([bad], key)
    item = next(iter(key["items"]))
    bad.write_text(f"page_id,reader,item,case,position,score,artefact,time\n{key['page_id']},a,{item},case1,1,9,0,t\n")
    with pytest.raises(ReaderError, match="1-5"):
        read_ratings([bad], key)


def test_mos_bootstrap_covers_the_mean():
    rng = np.random.default_rng(0)
    rows = [{"reader": f"r{r}", "case": f"c{c}", "model": m, "score": int(np.clip(round(base + rng.normal(0, 0.7)), 1, 5))}
            for r in range(5) for c in range(8) for m, base in (("a", 4), ("b", 2))]
    mos = mos_bootstrap(pd.DataFrame(rows), n_boot=500).set_index("model")
    assert mos.loc["a", "ci_low"] <= mos.loc["a", "mos"] <= mos.loc["a", "ci_high"]
    assert mos.loc["b", "ci_high"] < mos.loc["a", "ci_low"]


def test_scripted_readers_in_headless_chromium(tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium not found (apt-get install -y chromium, or set CHROMIUM)")
    run = _fake_run(tmp_path / "run")
    make_study(run, tmp_path / "page", seed=3)
    page = tmp_path / "page" / "index.html"
    probe = tmp_path / "page" / "probe.html"
    probe.write_text(page.read_text().replace("</body>", _SCRIPTED_READERS + "</body>", 1))
    r = _chromium(chromium, [f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900",
                             "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], 120)
    m = re.search(r'<pre id="scripted-reader">(.*?)</pre>', r.stdout, re.S)
    assert m, r.stderr[-500:]
    out = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    assert not out["errors"], out["errors"]
    assert out["href"].startswith("blob:") and out["done"]
    orders = out["orders"]
    assert len({tuple(o) for o in orders.values()}) == 3  # each reader has their own order
    assert all(sorted(o) == sorted(orders["alice"]) for o in orders.values())
    csvs = []
    for name, text in out["csv"].items():
        f = tmp_path / "page" / f"ratings-{name}.csv"
        f.write_text(text)
        csvs.append(f)
        assert len(text.strip().splitlines()) == 1 + 2 * len(MODELS)  # every image rated
    res = score_study(csvs, run, n_boot=300)
    mos = res.mos.set_index("model")
    assert mos.loc["srresnet", "mos"] > mos.loc["srgan", "mos"] > mos.loc["bicubic", "mos"]
    assert set(mos.n_readers) == {3} and set(mos.n_cases) == {2}
    imrmc = pd.read_csv(res.out_dir / "imrmc.csv")
    assert list(imrmc.columns) == ["readerID", "caseID", "modalityID", "score"] and len(imrmc) == 18
    per_image = pd.read_csv(res.out_dir / "mos_per_image.csv")
    assert set(per_image.model) == set(MODELS) and len(per_image) == 6
    assert len(res.pairs) == 3
    assert res.agreement.get("alpha_ordinal") is None or res.agreement["alpha_ordinal"] > 0.5


def test_mos_cells_are_testable_with_readers_then_scored(tmp_path):
    """Without ratings a MOS value is missing with the reader-study commands; after ``bench reader
    score`` wrote ``reader/mos_per_image.csv`` the report's rows carry a ``mos`` column."""
    from medsr_bench.benchmark.report.rundata import load_run
    from medsr_bench.benchmark.report.verdicts import model_values
    from tests.report_fixtures import make_run

    run_dir = make_run(tmp_path / "run")
    run = load_run(run_dir)
    v = run.variants[0]
    vals, why = model_values(run, v, "bicubic", "mos", "all")
    assert vals is None and "testable with your readers" in why and "bench reader make" in why
    rows = run.rows(v)
    ok = rows[(rows.model == "bicubic") & (rows.status == "ok")]
    (run_dir / "reader").mkdir()
    pd.DataFrame({"suite": v.suite, "dataset": v.dataset, "variant": v.id, "image_id": ok.image_id,
                  "model": "bicubic", "mos": np.linspace(2, 4, len(ok))}).to_csv(
        run_dir / "reader" / "mos_per_image.csv", index=False)
    vals, why = model_values(load_run(run_dir), v, "bicubic", "mos", "all")
    assert not why and len(vals) == len(ok) and vals.mean() == pytest.approx(3.0)
