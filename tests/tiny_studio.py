"""The app's tiny seeded pipelines, apart from the API tests so that the gpu-marked tests can import them on the GPU
machine, whose image has no moviepy or gradio_client."""

from mimir.loading import StudioPipelines
from mimir.text_models import load_smollm2_tokenizer
from tests.test_pipeline import make_pipe
from tests.tiny import tiny_llm, tiny_text_encoder


STEPS = 2


def tiny_pipes(video: dict | None = None, max_num_frames: int = 17) -> StudioPipelines:
    """CogVideoX and Mimir on tiny seeded components: 16x16 frames, n = 16 encoder tokens, a random 2-layer LLM.
    `video` and `max_num_frames` widen the sizes they accept (make_pipe)."""
    tokenizer, text_encoder = tiny_text_encoder()
    llm_tokenizer = load_smollm2_tokenizer()
    parts = (tokenizer, text_encoder, llm_tokenizer, tiny_llm(llm_tokenizer))
    defaults = {"num_frames": 9, "height": 16, "width": 16, "num_inference_steps": STEPS, "guidance_scale": 4.0}
    return StudioPipelines(
        cogvideox=make_pipe(parts, "t5_only", video, max_num_frames),
        mimir=make_pipe(parts, "mimir", video, max_num_frames),
        preset="tiny",
        memory="none",
        trained=False,
        defaults=defaults,
    )
