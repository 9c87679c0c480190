"""Speed measurements, one home: the whole pipeline (:mod:`medsr_bench.perf.pipeline`), the SR
engine vs realesrgan (:mod:`medsr_bench.perf.engine`), the metric engine vs its peers
(:mod:`medsr_bench.perf.metrics`) and training throughput (:mod:`medsr_bench.perf.train`).

Layer: above ``benchmark``, below ``cli`` (see ``scripts/import_layers.py``).
"""
