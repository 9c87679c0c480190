"""Faults of the prepared cache: content identity, two files with one id, killed builds, a full or
read-only cache. Each case fails on a cache keyed by file names and sizes only."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import mounted_tmpfs
from data_fixtures import rng_image, write_png, write_ppm_gz

from medsr_bench.data_prep import DataError, get_protocol
from medsr_bench.data_prep.prepared import clean_temporaries, iter_samples, set_dir
from medsr_bench.data_prep.protocols.chestxray14 import ChestXray14Params
from medsr_bench.data_prep.protocols.stare import StareParams

CXR = ("chestxray14", ChestXray14Params(expected_hw=(32, 32), n_images=3))


def _cxr(root):
    d = root / "NIH_ChestXray14" / "images"
    for i in range(3):
        write_png(d / f"0000000{i}_000.png", rng_image((32, 32), i))
    return d


def test_same_size_rewrite_with_mtime_restored_rebuilds(tmp_path, caplog):
    d = _cxr(tmp_path / "data")
    cache = tmp_path / "cache"
    p = get_protocol(*CXR)
    first = {s.meta.image_id: s.hr for s in iter_samples(p, tmp_path / "data", "all", cache_dir=cache)}
    f = d / "00000001_000.png"
    st = f.stat()
    size = st.st_size
    # same size, other pixels: rewrite a PNG of the same dimensions until the size matches
    for seed in range(100, 400):
        arr = rng_image((32, 32), seed)
        tmp = tmp_path / "t.png"
        write_png(tmp, arr)
        if tmp.stat().st_size == size:
            break
    else:  # pragma: no cover - PNG of random noise has a near-constant size
        pytest.skip("no same-size PNG found")
    f.write_bytes(tmp.read_bytes())
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # the stat a name/size/mtime key sees
    assert f.stat().st_size == size and f.stat().st_mtime_ns == st.st_mtime_ns
    with caplog.at_level(logging.WARNING, logger="data_prep"):
        again = {s.meta.image_id: s.hr for s in iter_samples(p, tmp_path / "data", "all",
                                                              cache_dir=cache)}
    assert not np.array_equal(first["00000001_000"], again["00000001_000"])
    assert np.array_equal(again["00000001_000"], arr.astype(np.float32) / 255)
    lines = [r.getMessage() for r in caplog.records if "built from other inputs" in r.getMessage()]
    assert len(lines) == 1 and "00000001_000.png content changed" in lines[0]


def test_unchanged_inputs_are_reused_without_a_warning(tmp_path, caplog, monkeypatch):
    _cxr(tmp_path / "data")
    cache = tmp_path / "cache"
    p = get_protocol(*CXR)
    list(iter_samples(p, tmp_path / "data", "all", cache_dir=cache))
    monkeypatch.setattr(type(p), "samples", lambda *a, **k: (_ for _ in ()).throw(AssertionError("rebuilt")))
    with caplog.at_level(logging.WARNING, logger="data_prep"):
        assert len(list(iter_samples(p, tmp_path / "data", "all", cache_dir=cache))) == 3
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_two_files_one_id_refused_naming_both(tmp_path):
    d = tmp_path / "data" / "STARE" / "stare-images"
    write_ppm_gz(d / "im0001.ppm.gz", rng_image((12, 8, 3), 1))
    write_ppm_gz(d / "im0002.ppm.gz", rng_image((12, 8, 3), 2))
    (d / "im0001.ppm").write_bytes(__import__("gzip").decompress((d / "im0001.ppm.gz").read_bytes()))
    p = get_protocol("stare", StareParams(expected_hw=(12, 8)))
    for cache in (None, tmp_path / "cache"):
        with pytest.raises(DataError) as e:
            list(iter_samples(p, tmp_path / "data", "all", cache_dir=cache))
        msg = str(e.value)
        assert "im0001.ppm" in msg and "im0001.ppm.gz" in msg and "'im0001'" in msg


_SLOW_BUILD = r"""
import sys, time
sys.path.insert(0, {tests!r})
from medsr_bench.data_prep import get_protocol
from medsr_bench.data_prep.prepared import iter_samples
from medsr_bench.data_prep.protocols.chestxray14 import ChestXray14Params
p = get_protocol("chestxray14", ChestXray14Params(expected_hw=(32, 32), n_images=3))
for s in iter_samples(p, {root!r}, "all", cache_dir={cache!r}):
    print("sample", flush=True)
    time.sleep(60)
"""


def test_sigterm_during_preparation_leaves_tmp_cleaned_next_run(tmp_path):
    _cxr(tmp_path / "data")
    cache = tmp_path / "cache"
    code = _SLOW_BUILD.format(tests=os.path.dirname(__file__), root=str(tmp_path / "data"),
                              cache=str(cache))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "sample"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    p = get_protocol(*CXR)
    parent = set_dir(cache, p, "all", None).parent
    left = list(parent.glob(".tmp-*"))
    assert left, "SIGTERM left no temporary (the kill came too late to test the clean-up)"
    assert len(list(iter_samples(p, tmp_path / "data", "all", cache_dir=cache))) == 3
    assert not list(parent.glob(".tmp-*"))


def test_clean_temporaries_keeps_a_live_builders_folder(tmp_path):
    from medsr_bench.data_prep.prepared import _host

    live = tmp_path / f".tmp-all-{_host()}-{os.getpid()}"
    other = tmp_path / f".tmp-all-otherhost-{os.getpid() + 1}"
    live.mkdir()
    other.mkdir()
    assert clean_temporaries(tmp_path) == []
    assert live.is_dir() and other.is_dir()


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 2 MiB tmpfs (disk full after 2 MiB); skips when mounting is not permitted."""
    with mounted_tmpfs(tmp_path / "small", "2m") as mnt:
        yield mnt


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only folder (a tmpfs mounted ``ro``: permission bits do not stop root); skips when
    mounting is not permitted."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_read_only_cache_is_one_data_error(tmp_path, read_only_dir):
    _cxr(tmp_path / "data")
    with pytest.raises(DataError, match="cannot write the prepared cache.*Read-only file system"):
        list(iter_samples(get_protocol(*CXR), tmp_path / "data", "all", cache_dir=read_only_dir))


def _fill(folder):
    """Fill the file system of ``folder`` with a ballast file until it is full."""
    with open(folder / "ballast", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_disk_full_prepared_cache_is_one_data_error_and_keeps_the_old_set(tmp_path, tiny_tmpfs):
    d = _cxr(tmp_path / "data")
    p = get_protocol(*CXR)
    list(iter_samples(p, tmp_path / "data", "all", cache_dir=tiny_tmpfs))
    folder = set_dir(tiny_tmpfs, p, "all", None)
    before = sorted(x.name for x in folder.rglob("*"))
    _fill(tiny_tmpfs)
    write_png(d / "00000001_000.png", rng_image((32, 32), 77))  # new content: a rebuild
    with pytest.raises(DataError) as e:
        list(iter_samples(p, tmp_path / "data", "all", cache_dir=tiny_tmpfs))
    assert "No space left on device" in str(e.value) and "prepared" in str(e.value)
    assert "\n" not in str(e.value)
    assert sorted(x.name for x in folder.rglob("*")) == before
    assert not list(folder.parent.glob(".tmp-*"))
