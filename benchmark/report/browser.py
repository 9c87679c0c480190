"""Check a rendered report in a real browser (headless Chromium): every image decodes, nothing
is wider than the window, every table row has as many columns (colspans summed) as its table's
header row, and no word inside a table cell is broken across lines, at each width; saves a
screenshot per width.

Usage: ``python -m medsr_bench.benchmark.report.browser REPORT.html [--out DIR]`` (exit 1 when a
check fails, 2 when Chromium is absent). Chromium is Debian's ``chromium`` package (``apt-get
install -y chromium``), or any binary named by ``$CHROMIUM``.

How: a copy of the page gets a small script that, after load, opens every ``<details>``, checks that
every ``<img>`` loaded with a size and draws it (a full decode), and writes a JSON verdict into the DOM; ``chromium --headless
--dump-dom --virtual-time-budget`` prints that DOM. Overflow = the page's ``scrollWidth`` exceeds
the window, or an element (table, image, figure, pre, paragraph) ends right of the window.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTHS = (1400, 800)

_PROBE = """
<script>
window.addEventListener('load', () => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const imgs = Array.from(document.images);
  const bad = [];
  const cv = document.createElement('canvas');
  cv.width = cv.height = 1;
  const ctx = cv.getContext('2d');
  imgs.forEach((im, i) => {  // 'load' fired: every image has loaded or failed
    try { if (!im.complete || !im.naturalWidth) throw 0; ctx.drawImage(im, 0, 0, 1, 1); }
    catch (e) { bad.push(i + ': ' + im.alt); }
  });
  const W = window.innerWidth;
  const over = [];
  document.querySelectorAll('table, img, figure, pre, p, h1, h2, h3, h4, ul, div').forEach(el => {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > W + 1) over.push(el.tagName.toLowerCase() + ' ' + (el.alt || el.id ||
      (el.textContent || '').trim().slice(0, 60)) + ' right=' + Math.round(r.right));
  });
  const cols = [];  // rows whose cells (colspan summed) differ from the table's header row
  document.querySelectorAll('table').forEach((t, ti) => {
    const rows = Array.from(t.rows);
    if (!rows.length) return;
    const span = r => Array.from(r.cells).reduce((a, c) => a + (c.colSpan || 1), 0);
    const head = rows.find(r => r.querySelector('th')) || rows[0];
    const want = span(head);
    rows.forEach((r, ri) => {
      const got = span(r);
      if (got !== want) cols.push('table ' + ti + ' row ' + ri + ': ' + got + ' cells, header ' +
        want + ' (' + (r.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 50) + ')');
    });
  });
  const broken = [];  // words of table cells split across two lines
  document.querySelectorAll('th, td').forEach(cell => {
    const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walk.nextNode())) {
      const re = /[\\w.]+/g; let m;  // runs of letters, digits, dots: a break at a space, hyphen or slash is fine
      while ((m = re.exec(node.data))) {
        if (m[0].length < 2) continue;
        const rg = document.createRange();
        rg.setStart(node, m.index); rg.setEnd(node, m.index + m[0].length);
        const tops = new Set(Array.from(rg.getClientRects()).filter(x => x.width > 0)
                             .map(x => Math.round(x.top)));
        if (tops.size > 1) broken.push(m[0].slice(0, 40));
      }
    }
  });
  const out = {width: W, scrollWidth: document.documentElement.scrollWidth, images: imgs.length,
               bad_images: bad, overflow: over.slice(0, 20), n_overflow: over.length,
               column_mismatch: cols.slice(0, 20), n_column_mismatch: cols.length,
               broken_words: broken.slice(0, 20), n_broken_words: broken.length};
  const pre = document.createElement('pre');
  pre.id = 'bench-browser-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def find_chromium() -> str | None:
    """Path of a Chromium binary (``$CHROMIUM``, ``chromium``, ``chromium-browser``,
    ``google-chrome``) or None."""
    cand = [os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]
    for c in cand:
        if c and shutil.which(c):
            return shutil.which(c)
    return None


def _chromium(binary: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    base = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout)


def check_page(html: Path, out_dir: Path, widths=WIDTHS, height: int = 1600,
               timeout: float = 120.0) -> list[dict]:
    """Load ``html`` at each width; return one dict per width: width, scrollWidth, images,
    bad_images (list), overflow (list of offending elements), n_overflow, column_mismatch (rows
    whose column count differs from the header row's), n_column_mismatch, broken_words (words of
    table cells split over two lines), n_broken_words, screenshot (path), ok.

    Raises:
        FileNotFoundError: no Chromium binary.
        RuntimeError: Chromium ran but printed no verdict (message holds its stderr tail).
    """
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium not found (apt-get install -y chromium, or set CHROMIUM)")
    html, out_dir = Path(html).resolve(), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        text = html.read_text()
        probe.write_text(text.replace("</body>", _PROBE + "</body>", 1) if "</body>" in text
                         else text + _PROBE)
        for w in widths:
            profile = Path(tmp) / f"profile-{w}"
            r = _chromium(binary, [f"--user-data-dir={profile}", f"--window-size={w},{height}",
                                   "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()],
                          timeout)
            m = re.search(r'<pre id="bench-browser-check">(.*?)</pre>', r.stdout, re.S)
            if not m:
                raise RuntimeError(f"chromium printed no verdict for {html} at {w}px: "
                                   f"{r.stderr.strip()[-300:]}")
            res = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&")
                             .replace("&lt;", "<").replace("&gt;", ">"))
            shot = out_dir / f"{html.stem}-{w}.png"
            _chromium(binary, [f"--user-data-dir={profile}", f"--window-size={w},{height}",
                               f"--screenshot={shot}", "--virtual-time-budget=5000",
                               html.as_uri()], timeout)
            res["screenshot"] = str(shot) if shot.is_file() else None
            res["ok"] = (not res["bad_images"] and not res["n_overflow"]
                         and not res["n_column_mismatch"] and not res["n_broken_words"]
                         and res["scrollWidth"] <= res["width"])
            results.append(res)
    return results


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", type=Path)
    ap.add_argument("--out", type=Path, default=Path("reports/screenshots"))
    ap.add_argument("--height", type=int, default=1600, help="window height of the screenshots")
    a = ap.parse_args(argv)
    try:
        results = check_page(a.html, a.out, height=a.height)
    except FileNotFoundError as e:
        print(f"skipped: {e}", file=sys.stderr)
        return 2
    for r in results:
        status = "ok" if r["ok"] else "FAIL"
        print(f"{status} {r['width']}px: {r['images']} images ({len(r['bad_images'])} undecodable), "
              f"scrollWidth {r['scrollWidth']}, {r['n_overflow']} overflowing element(s), "
              f"{r['n_column_mismatch']} table row(s) with a wrong column count, "
              f"{r['n_broken_words']} word(s) broken inside a table cell; "
              f"screenshot {r['screenshot']}")
        for o in r["overflow"] + r["bad_images"] + r["column_mismatch"] + [
                f"broken word: {w}" for w in r["broken_words"]]:
            print(f"   {o}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
