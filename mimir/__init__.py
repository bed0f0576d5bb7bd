"""Mimir Studio: an open implementation of Mimir (arXiv 2412.03085) on diffusers' CogVideoX.

Nothing heavy is imported here: `from mimir.pipeline import MimirPipeline`, `from mimir.loading import load_pipelines`.
"""

__version__ = "0.1.0"
