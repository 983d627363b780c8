"""Model provenance: was SUSPECT derived from PARENT?

White-box weight tests (:mod:`.whitebox`, numpy only, scipy optional) and black-box output tests
(:mod:`.blackbox`), returning :class:`accord.model.Finding` through :mod:`.api`. The demo zoo
(:mod:`.zoo`, :mod:`.tinygpt`, :mod:`.derive`) needs torch. See docs/provenance.md.
"""

from __future__ import annotations

from accord.verify.provenance.api import compare_outputs, compare_weights
from accord.verify.provenance.checkpoint import Checkpoint
from accord.verify.provenance.layout import ModelWeights
from accord.verify.provenance.whitebox import constrained_test, huref_similarity, robust_test

__all__ = [
    "Checkpoint",
    "ModelWeights",
    "compare_outputs",
    "compare_weights",
    "constrained_test",
    "huref_similarity",
    "robust_test",
]
