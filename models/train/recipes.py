"""Training recipes as registered, declarative data: one :class:`Recipe` per paper model.

Every field of a recipe cites where its value comes from (``Recipe.sources``): the paper's section
when the paper states it, otherwise the official Real-ESRGAN / BasicSR option file the recipe follows
(``options/train_realesrgan_x4plus.yml``, ``options/finetune_realesrgan_x4plus.yml``,
``options/train/SRResNet_SRGAN/*.yml`` of BasicSR 1.4.2). A field can be overridden at run time with
``bench train --set key=value`` (:meth:`Recipe.with_overrides`); the overrides are recorded in the
checkpoint metadata.

Papers: P1 Aghelan & Rouhani (v2), P3 Rashid et al., P4 Beallor et al. (see
``../shared/papers/README.md``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from medsr_bench.core.registry import DuplicateError, Registry

#: pixel losses by name -> basicsr loss class name (``basicsr.losses.basic_loss``)
PIXEL_LOSSES = {"l1": "L1Loss", "mse": "MSELoss"}
DATA_MODES = ("paired", "realesrgan-degradation")
KEEP_RULES = ("last", "ssim-then-psnr")


@dataclass(frozen=True)
class Recipe:
    """A training recipe.

    Attributes:
        name: registry key (``beallor-srresnet``).
        model_row: the ``bench run`` model row a finished run provides (``srresnet``); trained on
            another protocol than ``dataset``, the row is ``<model_row>-<protocol>``.
        netd_row: registry name of the discriminator checkpoint (auxiliary) or None (no GAN).
        paper: the paper and section the recipe reproduces.
        dataset: protocol name of the training data (``data_prep`` registry), ``split`` its split.
        data_mode: ``paired`` (the protocol's own HR/LR pairs) or ``realesrgan-degradation`` (HR only,
            LR made online by Real-ESRGAN's second-order degradation from USM-sharpened GT).
        gt_size: HR patch side in pixels; 0 = whole images (batches then need equal sizes).
        batch_size: images per iteration.
        use_flip / use_rot: random flips / 90-degree rotations of the patches.
        pixel_loss: ``l1`` | ``mse`` | ``none``; pixel_weight: its weight.
        perceptual_weight: weight of the VGG19 perceptual loss (0 = none). perceptual_layers: VGG19
            layer -> weight (basicsr names, ``conv5_4``...). perceptual_criterion: ``l1`` | ``l2``.
        gan_weight: adversarial weight (0 = no discriminator). gan_type: basicsr GANLoss type.
        lr_g / lr_d: Adam learning rates; betas: Adam betas; weight_decay: Adam weight decay.
        milestones / gamma: MultiStepLR schedule (iterations).
        epochs: length in epochs (iterations = ceil(epochs * n_train / batch_size)) or 0;
        total_iter: length in iterations (used when ``epochs`` is 0).
        val_every: validation period in iterations; 0 = once per epoch (or at the end when the recipe
            has no epochs). val_count: validation images (0 = the whole validation split).
        val_split: the protocol's validation split; when the protocol has none, ``val_count`` images
            of the training split are held out (never trained on).
        keep: which checkpoint becomes the model: ``last`` or ``ssim-then-psnr`` (the best
            validation SSIM, ties by PSNR; P4 sec. 4).
        ema_decay: EMA of the generator weights (0 = off); the model row uses ``params_ema``.
        init_g / init_d: where G / D start: ``None`` (random init), a registry checkpoint name
            (``realesrgan-x4plus``) or ``trained:<model_row>`` (a finished run of this project).
        usm_gt: L1 / perceptual targets are the USM-sharpened GT (Real-ESRGAN+'s ``l1_gt_usm``,
            ``percep_gt_usm``; the GAN target stays the plain GT).
        degradation: overrides of the Real-ESRGAN degradation settings
            (:data:`medsr_bench.models.train.degradation.REALESRGAN_DEGRADATION`).
        pair_pool: Real-ESRGAN's training pair pool size (``queue_size``), 0 = off.
        checkpoint_every: iterations between resumable checkpoints.
        seed: seed of every random generator (python, numpy, torch).
        sources: field -> where its value comes from.
    """

    name: str
    model_row: str
    paper: str
    dataset: str
    split: str = "train"
    netd_row: str | None = None
    data_mode: str = "paired"
    gt_size: int = 0
    batch_size: int = 1
    use_flip: bool = True
    use_rot: bool = True
    pixel_loss: str = "l1"
    pixel_weight: float = 1.0
    perceptual_weight: float = 0.0
    perceptual_layers: dict = field(default_factory=dict)
    perceptual_criterion: str = "l1"
    gan_weight: float = 0.0
    gan_type: str = "vanilla"
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.5
    epochs: int = 0
    total_iter: int = 0
    val_every: int = 0
    val_count: int = 16
    val_split: str | None = None
    keep: str = "last"
    ema_decay: float = 0.0
    init_g: str | None = None
    init_d: str | None = None
    usm_gt: bool = False
    degradation: dict = field(default_factory=dict)
    pair_pool: int = 0
    checkpoint_every: int = 500
    seed: int = 0
    sources: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.data_mode not in DATA_MODES:
            raise ValueError(f"{self.name}: data_mode must be one of {DATA_MODES}, got {self.data_mode!r}")
        if self.pixel_loss not in (*PIXEL_LOSSES, "none"):
            raise ValueError(f"{self.name}: pixel_loss must be l1, mse or none, got {self.pixel_loss!r}")
        if self.keep not in KEEP_RULES:
            raise ValueError(f"{self.name}: keep must be one of {KEEP_RULES}, got {self.keep!r}")
        if self.batch_size < 1 or self.gt_size < 0:
            raise ValueError(f"{self.name}: batch_size must be >= 1 and gt_size >= 0")
        if bool(self.epochs) == bool(self.total_iter):
            raise ValueError(f"{self.name}: give exactly one of epochs and total_iter")
        if self.gan_weight > 0 and self.netd_row is None:
            raise ValueError(f"{self.name}: a GAN loss needs netd_row (the discriminator)")

    @property
    def needs_vgg(self) -> bool:
        """True when the recipe uses the VGG19 perceptual / content loss."""
        return self.perceptual_weight > 0

    def iterations(self, n_train: int) -> int:
        """The recipe's full length in iterations for ``n_train`` training images."""
        if self.total_iter:
            return self.total_iter
        return -(-self.epochs * n_train // self.batch_size)

    def to_dict(self) -> dict:
        """Every field, JSON-serialisable (checkpoint metadata)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    def with_overrides(self, sets: list[str] | dict) -> Recipe:
        """A copy with ``key=value`` overrides (values parsed as JSON, else kept as strings).

        Raises:
            ValueError: unknown key, malformed ``key=value``, or a value of the wrong type.
        """
        if isinstance(sets, dict):
            pairs = dict(sets)
        else:
            pairs = {}
            for s in sets:
                if "=" not in s:
                    raise ValueError(f"--set {s!r}: expected key=value")
                k, v = s.split("=", 1)
                try:
                    pairs[k.strip()] = json.loads(v)
                except json.JSONDecodeError:
                    pairs[k.strip()] = v
        fields = {f.name: f for f in dataclasses.fields(self)}
        out = {}
        for k, v in pairs.items():
            if k not in fields or k in ("name", "sources"):
                known = ", ".join(n for n in fields if n not in ("name", "sources"))
                raise ValueError(f"--set {k}: unknown recipe field; known: {known}")
            cur = getattr(self, k)
            if isinstance(cur, tuple) and isinstance(v, list):
                v = tuple(v)
            elif isinstance(cur, float) and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if cur is not None and v is not None and not isinstance(v, type(cur)):
                raise ValueError(f"--set {k}={v!r}: expected {type(cur).__name__}")
            out[k] = v
        return dataclasses.replace(self, **out)


RECIPES: Registry[Recipe] = Registry("recipe", kind=Recipe)
"""The training recipes by name, in registration order."""


def register_recipe(recipe: Recipe) -> Recipe:
    """Add ``recipe`` under its name.

    Raises:
        medsr_bench.core.registry.DuplicateError: (a ``ValueError``) the name is taken.
        ValueError: a field without a source.
    """
    if recipe.name in RECIPES:
        raise DuplicateError(f"recipe {recipe.name!r} is already registered")
    uncited = [f.name for f in dataclasses.fields(recipe)
               if f.name not in ("name", "sources", "model_row", "netd_row", "paper")
               and f.name not in recipe.sources]
    if uncited:
        raise ValueError(f"recipe {recipe.name}: fields without a source: {uncited}")
    return RECIPES.register(recipe.name, recipe)


def get_recipe(name: str) -> Recipe:
    """The registered recipe ``name``. KeyError naming the known recipes."""
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(RECIPES.names())}")
    return RECIPES.get(name)


def list_recipes() -> list[str]:
    """Registered recipe names, in registration order."""
    return RECIPES.names()


# ----------------------------------------------------------------------------- citations
P4 = "P4 (Beallor et al.) sec. 4"
P3 = "P3 (Rashid et al.) sec. 3.2"
P1 = "P1 (Aghelan & Rouhani, v2) sec. III-B"
BASICSR_SRRESNET = "BasicSR options/train/SRResNet_SRGAN/train_MSRResNet_x4.yml"
BASICSR_SRGAN = "BasicSR options/train/SRResNet_SRGAN/train_MSRGAN_x4.yml"
RESRGAN_TRAIN = "Real-ESRGAN options/train_realesrgan_x4plus.yml"
RESRNET_TRAIN = "Real-ESRGAN options/train_realesrnet_x4plus.yml"
RESRGAN_FT = "Real-ESRGAN options/finetune_realesrgan_x4plus.yml"
NOT_STATED = "; the paper does not say"
OURS = "this project (documented choice)"

_COMMON_PAIRED = {
    "split": "the protocol's training split (data_prep)",
    "data_mode": "the protocol's own HR/LR pairs (the paper trains on its LR)",
    "use_flip": f"{BASICSR_SRRESNET} use_hflip{NOT_STATED}",
    "use_rot": f"{BASICSR_SRRESNET} use_rot{NOT_STATED}",
    "weight_decay": f"{BASICSR_SRRESNET} weight_decay 0",
    "milestones": "constant learning rate (no schedule stated)",
    "gamma": "unused (no milestones)",
    "degradation": "unused (paired data)",
    "pair_pool": "unused (paired data)",
    "usm_gt": "unused (no Real-ESRGAN+ sharpening in the paper)",
    "checkpoint_every": OURS,
    "seed": f"{OURS}{NOT_STATED}",
    "val_count": f"{OURS}: validation images when the protocol has no validation split",
}

register_recipe(Recipe(
    name="beallor-srresnet", model_row="srresnet", paper=f"{P4} (SRResNet)", dataset="cptac-gbm",
    gt_size=0, batch_size=1, pixel_loss="mse", lr_g=1e-4, betas=(0.9, 0.999), epochs=100,
    val_split="val", keep="ssim-then-psnr",
    sources={
        **_COMMON_PAIRED,
        "dataset": f"{P4}.5: CPTAC-GBM, 1000 train / 200 val / 200 test",
        "gt_size": f"{P4}: whole 512x512 images (no crops stated)",
        "batch_size": f"{P4}: batch size 1",
        "pixel_loss": f"{P4}: MSE loss", "pixel_weight": f"{P4}: MSE only",
        "perceptual_weight": f"{P4}: none for SRResNet", "perceptual_layers": "unused",
        "perceptual_criterion": "unused", "gan_weight": f"{P4}: none for SRResNet",
        "gan_type": "unused", "lr_g": f"{P4}: Adam 1e-4", "lr_d": "unused",
        "betas": "Ledig et al. 2017 sec. 3.2: Adam beta1 0.9 (torch default beta2 0.999)",
        "epochs": f"{P4}: 100 epochs", "total_iter": "from epochs",
        "val_every": f"{P4}: validation every epoch", "val_split": f"{P4}.5: 200 validation images",
        "keep": f"{P4}: best epoch by validation SSIM then PSNR", "ema_decay": f"{P4}: none",
        "init_g": f"{P4}: from scratch", "init_d": "unused",
    },
))

register_recipe(Recipe(
    name="beallor-srgan", model_row="srgan", netd_row="srgan-netd", paper=f"{P4} (SRGAN)",
    dataset="cptac-gbm", gt_size=128, batch_size=1, pixel_loss="none", pixel_weight=0.0,
    perceptual_weight=1.0, perceptual_layers={"conv5_4": 1.0}, perceptual_criterion="l2",
    gan_weight=1e-3, gan_type="vanilla", lr_g=1e-4, lr_d=1e-4, betas=(0.9, 0.999), epochs=50,
    val_split="val", keep="ssim-then-psnr", init_g="trained:srresnet",
    sources={
        **_COMMON_PAIRED,
        "dataset": f"{P4}.5: CPTAC-GBM train split",
        "gt_size": "128x128 HR crops: the input size of the registered P4 discriminator (basicsr "
                   "VGGStyleDiscriminator, 128 or 256 only); P4 does not state crops, Ledig et al. "
                   "trained on 96x96 crops", "batch_size": f"{P4}: batch size 1",
        "pixel_loss": f"{P4}: content loss only (no pixel loss)", "pixel_weight": f"{P4}: none",
        "perceptual_weight": f"{P4}: VGG19 content loss, weight 1 (Ledig eq. 3)",
        "perceptual_layers": f"{P4}: phi_5,4 (features of conv5_4)",
        "perceptual_criterion": "Ledig et al. 2017 eq. 5: squared Euclidean (MSE) on VGG features",
        "gan_weight": f"{P4}: 1e-3 adversarial (Ledig eq. 3)",
        "gan_type": "Ledig discriminator ends in a sigmoid: binary cross-entropy (basicsr 'vanilla' on "
                    "logits is the same loss)",
        "lr_g": f"{P4}: Adam 1e-4", "lr_d": f"{P4}: Adam 1e-4{NOT_STATED} for D",
        "betas": "Ledig et al. 2017 sec. 3.2: beta1 0.9", "epochs": f"{P4}: 50 epochs",
        "total_iter": "from epochs", "val_every": f"{P4}: every epoch",
        "val_split": f"{P4}.5: 200 validation images", "keep": f"{P4}: best by SSIM then PSNR",
        "ema_decay": f"{P4}: none", "init_g": f"{P4}: starts from the trained SRResNet",
        "init_d": f"{P4}: from scratch (Ledig D without the 1024 dense layer)",
    },
))

_RASHID = {
    "dataset": "P3 sec. 3.1: BraTS 2018 T1, 80 % of the volumes", "split": "P3 3.1: train split",
    "data_mode": "P3 3.1: the protocol's bilinear /4 LR (paired)",
    "gt_size": f"{RESRGAN_TRAIN} gt_size 256 (= the whole 256x256 slice)",
    "batch_size": f"{P3}: batch size 1", "use_flip": f"{RESRGAN_TRAIN} use_hflip",
    "use_rot": f"{RESRGAN_TRAIN} use_rot False", "lr_g": f"{P3}: Adam 1e-4",
    "betas": f"{RESRGAN_TRAIN} betas [0.9, 0.99]", "weight_decay": f"{RESRGAN_TRAIN} 0",
    "milestones": f"{RESRGAN_TRAIN} milestones [400000] (beyond 300k: constant)",
    "gamma": f"{RESRGAN_TRAIN} gamma 0.5", "total_iter": f"{P3}: 300,000 iterations",
    "epochs": "from total_iter", "val_every": f"{RESRGAN_TRAIN} val_freq 5000",
    "val_split": "P3 has no validation split: held-out training slices",
    "keep": "Real-ESRGAN keeps the last iteration", "ema_decay": f"{RESRGAN_TRAIN} ema_decay 0.999",
    "init_g": f"{P3}: from scratch (no RealESRNet init)", "usm_gt": "P3 does not use Real-ESRGAN+ USM GT",
    "degradation": "unused (paired)", "pair_pool": "unused (paired)", "checkpoint_every": OURS,
    "seed": f"{OURS}{NOT_STATED}", "val_count": f"{OURS}: held-out training slices",
    "pixel_loss": f"{P3}: L1", "pixel_weight": f"{P3}: all loss weights 1",
    "perceptual_criterion": f"{RESRGAN_TRAIN} perceptual criterion l1",
}
_VGG_LAYERS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}

register_recipe(Recipe(
    name="rashid-realesrgan-1ch", model_row="realesrgan-1ch", netd_row="realesrgan-1ch-netd",
    paper=f"{P3} (Real-ESRGAN, 1 channel)", dataset="brats2018", gt_size=256, batch_size=1,
    use_rot=False, pixel_loss="l1", perceptual_weight=1.0, perceptual_layers=dict(_VGG_LAYERS),
    gan_weight=1.0, gan_type="vanilla", lr_g=1e-4, lr_d=1e-4, milestones=(400000,),
    total_iter=300_000, val_every=5000, ema_decay=0.999,
    sources={**_RASHID, "perceptual_weight": f"{P3}: weight 1",
             "perceptual_layers": f"{RESRGAN_TRAIN} layer_weights (conv1_2 0.1 ... conv5_4 1)",
             "gan_weight": f"{P3}: weight 1", "gan_type": f"{RESRGAN_TRAIN} gan_type vanilla",
             "lr_d": f"{P3}: Adam 1e-4", "init_d": f"{P3}: from scratch (1-channel UNetDiscriminatorSN)"},
))

register_recipe(Recipe(
    name="rashid-realesrnet-1ch", model_row="realesrnet-1ch", paper=f"{P3} generator, L1 only "
    "(Real-ESRNet: the PSNR-oriented first stage of Real-ESRGAN's own recipe; not in P3)",
    dataset="brats2018", gt_size=256, batch_size=1, use_rot=False, pixel_loss="l1",
    lr_g=1e-4, milestones=(400000,), total_iter=300_000, val_every=5000, ema_decay=0.999,
    sources={**_RASHID, "pixel_weight": f"{RESRNET_TRAIN} pixel_opt L1 weight 1",
             "perceptual_weight": f"{RESRNET_TRAIN}: none", "perceptual_layers": "unused",
             "gan_weight": f"{RESRNET_TRAIN}: none", "gan_type": "unused", "lr_d": "unused",
             "init_d": "unused", "milestones": f"{RESRNET_TRAIN} milestones [1000000] (constant here)",
             "lr_g": f"{P3}: Adam 1e-4 (RealESRNet default 2e-4)"},
))

_AGHELAN = {
    "split": "fine-tuning sets have one split, train", "data_mode": f"{P1}: Real-ESRGAN's online "
    "second-order degradation", "gt_size": f"{RESRGAN_FT} gt_size 256", "batch_size": f"{P1}: batch 10",
    "use_flip": f"{RESRGAN_FT} use_hflip True", "use_rot": f"{RESRGAN_FT} use_rot False",
    "pixel_loss": f"{P1}: L1", "pixel_weight": f"{RESRGAN_FT} pixel_opt loss_weight 1.0",
    "perceptual_weight": f"{RESRGAN_FT} perceptual_weight 1.0",
    "perceptual_layers": f"{RESRGAN_FT} layer_weights", "perceptual_criterion": f"{RESRGAN_FT} l1",
    "gan_weight": f"{RESRGAN_FT} gan_opt loss_weight 0.1", "gan_type": f"{RESRGAN_FT} vanilla",
    "lr_g": f"{P1}: Adam 1e-4", "lr_d": f"{P1}: Adam 1e-4", "betas": f"{RESRGAN_FT} [0.9, 0.99]",
    "weight_decay": f"{RESRGAN_FT} 0", "milestones": f"{RESRGAN_FT} [400000]",
    "gamma": f"{RESRGAN_FT} 0.5", "epochs": "from total_iter",
    "val_split": "fine-tuning sets have no validation split: held-out training images",
    "keep": "Real-ESRGAN keeps the last iteration", "ema_decay": f"{P1}: EMA (Real-ESRGAN 0.999)",
    "init_g": f"{P1}: RealESRGAN_x4plus", "init_d": f"{P1}: RealESRGAN_x4plus_netD",
    "usm_gt": f"{P1}: USM-sharpened GT (Real-ESRGAN+)",
    "degradation": f"{RESRGAN_FT} degradation settings (defaults of degradation.py)",
    "pair_pool": f"{RESRGAN_FT} queue_size 180", "checkpoint_every": OURS, "seed": f"{OURS}{NOT_STATED}",
    "val_count": f"{OURS}: held-out training images", "val_every": f"{RESRGAN_FT} val_freq 5000",
}
for _name, _row, _ds, _iters, _what in (
    ("aghelan-finetune-retina", "realesrgan-finetuned-retina", "stare", 3000,
     f"{P1}: STARE retina, 3,000 iterations (~75 epochs)"),
    ("aghelan-finetune-cxr", "realesrgan-finetuned-cxr", "shenzhen", 16_600,
     f"{P1}: Shenzhen with multi-scale Lanczos GT (x5 images), 16,600 iterations (~50 epochs)"),
):
    register_recipe(Recipe(
        name=_name, model_row=_row, netd_row="realesrgan-x4plus-netd", paper=f"{P1} ({_ds})",
        dataset=_ds, data_mode="realesrgan-degradation", gt_size=256, batch_size=10, use_rot=False,
        pixel_loss="l1", perceptual_weight=1.0, perceptual_layers=dict(_VGG_LAYERS), gan_weight=0.1,
        lr_g=1e-4, lr_d=1e-4, milestones=(400000,), total_iter=_iters, val_every=5000,
        ema_decay=0.999, init_g="realesrgan-x4plus", init_d="realesrgan-x4plus-netd", usm_gt=True,
        pair_pool=180, sources={**_AGHELAN, "dataset": _what, "total_iter": _what},
    ))
