"""The perceptual full-reference metrics of issue 20 (one module each, found in this folder by
the registry like every metric module)."""

IQA_METRICS = ("gmsd", "haarpsi", "fsim", "vsi", "dists")
"""Their names, in the order of their paper table (the registry lists them after the engine
metrics, NIQE and LPIPS, in module order)."""
