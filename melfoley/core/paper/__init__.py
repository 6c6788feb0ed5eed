"""The paper tier (MELQCD_SPEC.md sections 3-5) on diffusers: V2X predictor, Mel-QCD ControlNet
pipeline with textual inversion, loaded from local folders. Heavy imports (diffusers,
transformers) live in the submodules; import them directly, e.g.
``from melfoley.core.paper.pipeline import MelQCDPipeline``.
"""
