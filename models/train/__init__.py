"""Training recipes (``bench train``): the papers' own models from their recipes.

Modules: :mod:`.recipes` (the recipes as registered data), :mod:`.trained` (records of finished runs,
read by the model registry), :mod:`.vgg` (VGG19 weights + perceptual loss), :mod:`.data` (training
patches from the data_prep protocols), :mod:`.degradation` (Real-ESRGAN's online degradation),
:mod:`.trainer` (the loop, checkpoints, resume), :mod:`medsr_bench.cli.train` (the command).

Kept light: ``models.zoo`` imports :mod:`.trained` (the model registry's checkpoint hook), so
nothing heavy is imported here.
"""
