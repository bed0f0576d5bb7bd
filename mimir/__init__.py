"""Mimir Studio: an open implementation of Mimir (arXiv 2412.03085) on diffusers' CogVideoX.

Nothing heavy is imported here: `from mimir.pipeline import MimirPipeline`, `from mimir.loading import load_pipelines`.
"""

__version__ = "0.1.0"


def _quiet_bitsandbytes_cpu_kernel_warning() -> None:
    """bitsandbytes (imported by diffusers and transformers when installed) warns on every start, `--help`
    included, that it cannot load an optional 4-bit CPU kernel from the `kernels` package, which would fetch it from
    the Hugging Face Hub. We never run 4-bit layers on the CPU (8-bit only, for Phi-3.5 on a GPU), so that one
    message is dropped; every other bitsandbytes message still shows."""
    import logging

    logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(
        lambda record: "gemm_4bit_forward" not in record.getMessage()
    )


_quiet_bitsandbytes_cpu_kernel_warning()
