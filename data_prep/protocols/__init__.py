"""Dataset protocols, one module per dataset; importing this package imports every module of its
folder (no import list), which registers all of them.

=============== ====================================== =====================================
name            module                                 paper
=============== ====================================== =====================================
drive           :mod:`data_prep.protocols.drive`       P1 sec. IV-A (x2)
chestxray14     :mod:`data_prep.protocols.chestxray14` P1 sec. IV-B, P2 (x4)
brats2018       :mod:`data_prep.protocols.brats2018`   P3 sec. 3.1 (x4)
cptac-gbm       :mod:`data_prep.protocols.cptac_gbm`   P4 sec. 3.2, 4.5 (x4)
stare           :mod:`data_prep.protocols.stare`       P1 sec. III-A (fine-tuning)
shenzhen        :mod:`data_prep.protocols.shenzhen`    P1 sec. III-A (fine-tuning)
demo-*          :mod:`data_prep.protocols.demo`        embedded defaults (no data needed)
=============== ====================================== =====================================
"""

from medsr_bench.core.registry import import_submodules
from medsr_bench.data_prep.protocols.base import BaseProtocol, Item, RunContext

# every module of this folder, in name order (each protocol module registers itself)
import_submodules(__name__)

__all__ = ["BaseProtocol", "Item", "RunContext"]
