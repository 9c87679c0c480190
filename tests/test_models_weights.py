"""Weight files: missing / wrong-hash / truncated / partial errors, key layouts, fetch (file:// and a
local HTTP server; offline error), verify."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import threading

import pytest
import torch

from medsr_bench.models import WeightsError, WeightsMissing, get_spec, load_model
from medsr_bench.models.network import load_network
from medsr_bench.models.weights import FetchError, fetch, sha256_file, verify

SMALL = "realesr-animevideov3"  # SRVGGNetCompact, 0.6 M parameters: quick to save and load


def _save_random(spec, folder, layout=None, seed=0):
    torch.manual_seed(seed)
    sd = spec.arch().state_dict()
    layout = layout if layout is not None else spec.pretrained.key
    obj = {layout: sd} if layout else sd
    path = folder / spec.pretrained.file
    torch.save(obj, path)
    return path, sd


def _spec_with(name, **cfg):
    spec = get_spec(name)
    return dataclasses.replace(spec, pretrained=dataclasses.replace(spec.pretrained, **cfg))


def test_wrong_hash_is_a_clear_error(tmp_path):
    _save_random(get_spec(SMALL), tmp_path)
    with pytest.raises(WeightsError, match="sha256 mismatch") as ei:
        load_model(SMALL, tmp_path, "cpu")
    assert not isinstance(ei.value, WeightsMissing) and "\n" not in str(ei.value)
    assert SMALL in str(ei.value) and "bench weights fetch" in str(ei.value)
    # explicitly skipping the hash check loads the (random) file strictly
    m = load_model(SMALL, tmp_path, "cpu", verify_hash=False)
    assert m.info()["weights"]["sha256_verified"] is False


def test_truncated_file(tmp_path):
    path, _ = _save_random(get_spec(SMALL), tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=r"cannot read .*\(truncated") as ei:
        load_model(SMALL, tmp_path, "cpu", verify_hash=False)
    assert "\n" not in str(ei.value)
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        load_model(SMALL, tmp_path, "cpu")


def test_garbage_file(tmp_path):
    (tmp_path / get_spec("srresnet").pretrained.file).write_bytes(b"<html>not a checkpoint</html>")
    with pytest.raises(WeightsError, match="cannot read"):
        load_model("srresnet", tmp_path, "cpu")


def test_partial_state_dict(tmp_path):
    spec = get_spec(SMALL)
    path, sd = _save_random(spec, tmp_path)
    torch.save({"params": {k: v for k, v in sd.items() if not k.startswith("body.34")}}, path)
    with pytest.raises(WeightsError, match=r"does not fit.*2 missing \(e\.g\. body\.34"):
        load_model(SMALL, tmp_path, "cpu", verify_hash=False)


def test_wrong_shapes(tmp_path):
    spec = get_spec("realesrgan-animevideo-xsx2")  # x2 head: 12 output channels, not 48
    path, _ = _save_random(get_spec(SMALL), tmp_path)
    path.rename(tmp_path / spec.pretrained.file)
    # spandrel reads it as the x4 compact model it is: refused as the wrong file for an x2 name
    with pytest.raises(WeightsError, match=r"holds a RealESRGAN Compact x4 .*expected x2"):
        load_model("realesrgan-animevideo-xsx2", tmp_path, "cpu", verify_hash=False)


def test_wrong_key(tmp_path):
    spec = get_spec(SMALL)
    torch.save({"something": {"a": 1}}, tmp_path / spec.pretrained.file)
    with pytest.raises(WeightsError, match="no state dict under|not a state dict"):
        load_model(SMALL, tmp_path, "cpu", verify_hash=False)


def test_params_ema_preferred_and_params_fallback(tmp_path):
    spec = get_spec("srresnet")  # key params_ema (basicsr trainer layout), falls back to params
    torch.manual_seed(0)
    ema, raw = spec.arch().state_dict(), spec.arch().state_dict()
    torch.save({"params": raw, "params_ema": ema}, tmp_path / spec.pretrained.file)
    net, info = load_network(spec, tmp_path)
    assert info["key"] == "params_ema"
    assert torch.equal(net.state_dict()["tail.weight"], ema["tail.weight"])
    torch.save({"params": raw}, tmp_path / spec.pretrained.file)
    net, info = load_network(spec, tmp_path)
    assert info["key"] == "params" and torch.equal(net.state_dict()["tail.weight"], raw["tail.weight"])
    torch.save(raw, tmp_path / spec.pretrained.file)  # bare
    _, info = load_network(spec, tmp_path)
    assert info["key"] is None


def test_weights_only_loading_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    spec = get_spec("srresnet")
    torch.save({"params": Evil()}, tmp_path / spec.pretrained.file)
    with pytest.raises(WeightsError, match="cannot read"):
        load_model("srresnet", tmp_path, "cpu")


# ----------------------------------------------------------------------------- fetch
def _blob(tmp_path):
    spec = get_spec(SMALL)
    src = tmp_path / "srv"
    src.mkdir()
    path, _ = _save_random(spec, src)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_file_url_with_sha256(tmp_path):
    src, digest = _blob(tmp_path)
    spec = _spec_with(SMALL, sha256=digest, url=src.as_uri())
    dest = fetch(spec, tmp_path / "cache", progress=False)
    assert dest == tmp_path / "cache" / spec.pretrained.file
    assert sha256_file(dest) == digest and not list((tmp_path / "cache").glob("*.part"))
    assert verify(spec, tmp_path / "cache").status == "ok"


def test_fetch_from_local_http_server(tmp_path):
    src, digest = _blob(tmp_path)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(src.parent))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{src.name}"
        spec = _spec_with(SMALL, sha256=digest, url=url)
        dest = fetch(spec, tmp_path / "cache", progress=True)
        assert sha256_file(dest) == digest
        # the downloaded file loads through the registry path
        net, info = load_network(spec, tmp_path / "cache")
        assert info["sha256_verified"]
        bad = _spec_with(SMALL, sha256="0" * 64, url=url)
        with pytest.raises(FetchError, match="downloaded file has sha256"):
            fetch(bad, tmp_path / "cache2", progress=False)
        assert not list((tmp_path / "cache2").iterdir())  # nothing left behind
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_offline_is_one_clear_line(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: connection refused, like an offline machine
    url = f"http://127.0.0.1:{port}/RealESRGAN_x4plus.pth"
    with pytest.raises(FetchError) as ei:
        fetch(get_spec("realesrgan-x4plus"), tmp_path, url=url, progress=False, timeout=5)
    msg = str(ei.value)
    assert "\n" not in msg and url in msg and str(tmp_path / "RealESRGAN_x4plus.pth") in msg
    assert "cannot download" in msg and "by hand" in msg
    assert not list(tmp_path.iterdir())


def test_fetch_without_url(tmp_path):
    with pytest.raises(FetchError, match="no download URL.*bench train --recipe rashid-realesrgan-1ch"):
        fetch(get_spec("realesrgan-1ch"), tmp_path)


def test_verify_statuses(tmp_path):
    assert verify(get_spec(SMALL), tmp_path).status == "missing"
    _save_random(get_spec(SMALL), tmp_path)
    r = verify(get_spec(SMALL), tmp_path)
    assert r.status == "bad" and "sha256 mismatch" in r.detail
    _save_random(get_spec("realesrgan-1ch-netd"), tmp_path)
    assert verify(get_spec("realesrgan-1ch-netd"), tmp_path).status == "loads"


def test_cache_dir_env(monkeypatch, tmp_path):
    from medsr_bench.models.weights import cache_dir

    monkeypatch.setenv("BENCH_WEIGHTS", str(tmp_path / "w"))
    assert cache_dir() == tmp_path / "w"
    monkeypatch.delenv("BENCH_WEIGHTS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "medsr-bench" / "weights"


def test_fetch_keeps_an_existing_file(tmp_path):
    spec = get_spec("realesrgan-1ch")  # no URL, no published hash: the file there is kept
    (tmp_path / spec.pretrained.file).write_bytes(b"trained here")
    assert fetch(spec, tmp_path) == tmp_path / spec.pretrained.file
    # a file with the wrong hash is downloaded again (here: from an unreachable URL -> error)
    bad = get_spec(SMALL)
    (tmp_path / bad.pretrained.file).write_bytes(b"wrong")
    with pytest.raises(FetchError, match="cannot download"):
        fetch(bad, tmp_path, url=(tmp_path / "absent.pth").as_uri(), progress=False)
