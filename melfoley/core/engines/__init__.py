"""Engines registered with melfoley.core.engine: library, embedded, debug, paper.

``DEFAULT_ENGINE`` is the one every front end (batch, watch, hosts, panel) uses unless told
otherwise: the engine that measures best on the product path (picture + prompt -> stem,
``bench/eval_product.py``; figures in docs/eval_product.md and README). This module stays
import-light so the command line can read it without loading numpy or torch.
"""

DEFAULT_ENGINE = "library"
