"""`MimirPipeline`: diffusers' CogVideoX text-to-video pipeline with Mimir's fused text condition.

The denoising recipe is diffusers' `CogVideoXPipeline.__call__`, inherited unchanged; Mimir changes what the DiT is
conditioned on. `encode_prompt` runs the encoder branch and the LLM branch and fuses them with the `TokenFuser`
(paper Sec. 3.2), for the prompt and, at the same fused length, for the negative prompt of classifier-free guidance.
With `fusion_type="t5_only"` the pipeline is exactly CogVideoX (tested against `CogVideoXPipeline`).
"""

from typing import Any, Callable

import torch
from diffusers import CogVideoXPipeline
from diffusers.pipelines.cogvideo.pipeline_output import CogVideoXPipelineOutput

from .text_encoding import LLMBranchConfig, PromptEncoder, TokenBundle
from .token_fuser import TokenFuser


GUIDANCE_RANGE: tuple[float, float] = (1.0, 20.0)


class MimirPipeline(CogVideoXPipeline):
    r"""Text-to-video generation with CogVideoX conditioned on Mimir's fused encoder + LLM tokens.

    Args:
        tokenizer, text_encoder: the encoder branch (T5-v1.1-XXL for CogVideoX-5B; MiniLM in the nano preset).
        vae: `AutoencoderKLCogVideoX`.
        transformer: `CogVideoXTransformer3DModel`, whose `text_embed_dim` is the encoder's D.
        scheduler: `CogVideoXDDIMScheduler` or `CogVideoXDPMScheduler`.
        token_fuser: `TokenFuser`; its `fusion_type` picks the variant (`"t5_only"` = plain CogVideoX).
        llm_tokenizer, llm: the decoder-only LLM branch (Phi-3.5-mini-instruct; SmolLM2-135M-Instruct in the nano
            preset). Optional: `t5_only` needs none.
        max_sequence_length: n, the encoder length (226 for CogVideoX; 32 in the nano preset).
        max_num_frames: the most frames a call may ask for (the DiT's training length at least).
    """

    _optional_components = ["llm_tokenizer", "llm"]
    model_cpu_offload_seq = "text_encoder->llm->token_fuser->transformer->vae"
    # A bitsandbytes 8-bit model cannot be moved with `.to()` (diffusers issue 10653): the LLM stays where it was
    # loaded, resident, and CPU offload leaves it alone.
    _exclude_from_cpu_offload = ["llm"]

    def __init__(
        self,
        tokenizer,
        text_encoder,
        vae,
        transformer,
        scheduler,
        token_fuser: TokenFuser,
        llm_tokenizer=None,
        llm=None,
        max_sequence_length: int = 226,
        max_num_frames: int = 49,
    ):
        super().__init__(
            tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler
        )
        self.register_modules(token_fuser=token_fuser, llm_tokenizer=llm_tokenizer, llm=llm)
        self.register_to_config(max_sequence_length=max_sequence_length, max_num_frames=max_num_frames)
        self._prompt_encoder: PromptEncoder | None = None
        self._llm_answer_tokens = False
        self._answer_generator: torch.Generator | None = None

    # ---- text ----------------------------------------------------------------------------------------------

    @property
    def prompt_encoder(self) -> PromptEncoder:
        """Both text branches with the session cache; rebuilt if a component was swapped."""
        enc = self._prompt_encoder
        parts = (self.tokenizer, self.text_encoder, self.llm_tokenizer, self.llm)
        if enc is None or (enc.tokenizer, enc.text_encoder, enc.llm_tokenizer, enc.llm) != parts:
            self._prompt_encoder = PromptEncoder(
                *parts[:2],
                llm_tokenizer=self.llm_tokenizer,
                llm=self.llm,
                max_sequence_length=self.config.max_sequence_length,
                llm_config=enc.llm_config if enc is not None else LLMBranchConfig.from_file(),
            )
        return self._prompt_encoder

    @torch.no_grad()
    def encode_tokens(
        self,
        prompts: list[str],
        llm_answer_tokens: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> TokenBundle:
        """Both branches and the fused condition for B prompts: `fused_embeds` is (B, n + k, D), k = 4 with the
        stabilizer. Also used by the token-space panel."""
        device = device or self._execution_device
        dtype = dtype or self.transformer.dtype
        bundle = self.prompt_encoder.encode(
            prompts,
            with_llm=self.token_fuser.uses_llm,
            llm_answer_tokens=llm_answer_tokens,
            generator=generator,
            device=device,
            dtype=dtype,
        )
        fuser_dtype = self.token_fuser.dtype
        cast = lambda t: None if t is None else t.to(device=device, dtype=fuser_dtype)  # noqa: E731
        fused, mask = self.token_fuser(
            cast(bundle.encoder_embeds),
            bundle.encoder_mask,
            cast(bundle.llm_embeds),
            bundle.llm_mask,
            cast(bundle.instruction_embeds),
        )
        bundle.fused_embeds, bundle.fused_mask = fused.to(dtype), mask  # (B, n + k, D), (B, n + k)
        return bundle

    def encode_prompt(
        self,
        prompt: str | list[str],
        negative_prompt: str | list[str] | None = None,
        do_classifier_free_guidance: bool = True,
        num_videos_per_prompt: int = 1,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        max_sequence_length: int | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Fused condition of the prompt and of the negative prompt, both (B * num_videos_per_prompt, n + k, D).

        The negative condition goes through the same fuser, so both have the fused length n + k (CFG batches them).
        """
        if max_sequence_length is not None and max_sequence_length != self.config.max_sequence_length:
            raise ValueError(
                f"max_sequence_length={max_sequence_length} differs from this pipeline's "
                f"{self.config.max_sequence_length}: the DiT and the fuser were built for that length"
            )
        device = device or self._execution_device
        dtype = dtype or self.transformer.dtype
        prompt = [prompt] if isinstance(prompt, str) else prompt
        batch_size = len(prompt) if prompt is not None else prompt_embeds.shape[0]

        if prompt_embeds is None:
            prompt_embeds = self.encode_tokens(
                prompt, self._llm_answer_tokens, self._answer_generator, device=device, dtype=dtype
            ).fused_embeds  # (B, n + k, D)
        if do_classifier_free_guidance and negative_prompt_embeds is None:
            negative_prompt = negative_prompt or ""
            negative_prompt = batch_size * [negative_prompt] if isinstance(negative_prompt, str) else negative_prompt
            if len(negative_prompt) != batch_size:
                raise ValueError(f"negative_prompt has batch size {len(negative_prompt)}, but prompt has {batch_size}")
            negative_prompt_embeds = self.encode_tokens(
                negative_prompt, self._llm_answer_tokens, self._answer_generator, device=device, dtype=dtype
            ).fused_embeds  # (B, n + k, D)

        prompt_embeds = prompt_embeds.repeat_interleave(num_videos_per_prompt, dim=0)
        if negative_prompt_embeds is not None:
            negative_prompt_embeds = negative_prompt_embeds.repeat_interleave(num_videos_per_prompt, dim=0)
        return prompt_embeds, negative_prompt_embeds

    # ---- checks ----------------------------------------------------------------------------------------------

    @property
    def spatial_multiple(self) -> int:
        """Height and width must be multiples of this (VAE downsampling times the DiT's patch size)."""
        return self.vae_scale_factor_spatial * self.transformer.config.patch_size

    def check_inputs(
        self,
        prompt,
        height,
        width,
        negative_prompt,
        callback_on_step_end_tensor_inputs,
        prompt_embeds=None,
        negative_prompt_embeds=None,
    ):
        prompts = [prompt] if isinstance(prompt, str) else (prompt or [])
        for p in prompts:
            if not isinstance(p, str) or not p.strip():
                raise ValueError(f"prompt must be non-empty text, got {p!r}")
        m = self.spatial_multiple
        max_h = 2 * self.transformer.config.sample_height * self.vae_scale_factor_spatial
        max_w = 2 * self.transformer.config.sample_width * self.vae_scale_factor_spatial
        for name, value, top in (("height", height, max_h), ("width", width, max_w)):
            if not isinstance(value, int) or value % m != 0 or not m <= value <= top:
                raise ValueError(f"{name}={value!r} is not supported: it must be a multiple of {m} in [{m}, {top}]")
        super().check_inputs(
            prompt,
            height,
            width,
            negative_prompt,
            callback_on_step_end_tensor_inputs,
            prompt_embeds,
            negative_prompt_embeds,
        )

    def check_generation_args(self, num_frames: int, num_inference_steps: int, guidance_scale: float) -> None:
        """Rules the parent's `check_inputs` does not cover; each error quotes the value and the rule."""
        t = self.vae_scale_factor_temporal
        top = self.config.max_num_frames
        # The CogVideoX VAE decodes 1 + t * k frames exactly only when the latent count k + 1 is odd (8N + 1 for t=4).
        step = 2 * t
        if not isinstance(num_frames, int) or num_frames < step + 1 or (num_frames - 1) % step or num_frames > top:
            raise ValueError(
                f"num_frames={num_frames!r} is not supported by the VAE: it must be of the form {step}*N + 1 "
                f"in [{step + 1}, {top}]"
            )
        steps_top = self.scheduler.config.num_train_timesteps
        if not isinstance(num_inference_steps, int) or not 1 <= num_inference_steps <= steps_top:
            raise ValueError(f"num_inference_steps={num_inference_steps!r} must be an integer in [1, {steps_top}]")
        lo, hi = GUIDANCE_RANGE
        if not isinstance(guidance_scale, (int, float)) or not lo <= guidance_scale <= hi:
            raise ValueError(f"guidance_scale={guidance_scale!r} must be in [{lo}, {hi}]")

    # ---- call ----------------------------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
        num_inference_steps: int = 50,
        timesteps: list[int] | None = None,
        guidance_scale: float = 6.0,
        use_dynamic_cfg: bool = False,
        num_videos_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
        callback_on_step_end: Callable[[int, int, dict], None] | None = None,
        callback_on_step_end_tensor_inputs: list[str] = ["latents"],
        max_sequence_length: int | None = None,
        llm_answer_tokens: bool = False,
    ) -> CogVideoXPipelineOutput | tuple:
        """Same arguments as `CogVideoXPipeline.__call__`, plus `llm_answer_tokens`: when True the LLM first samples
        an imagined description (seeded by `generator`) whose tokens join the condition (the paper's answer tokens).

        Returns `CogVideoXPipelineOutput` with `frames` (B, F, H, W, 3) for `output_type="np"`.
        """
        num_frames = num_frames or self.transformer.config.sample_frames
        self.check_generation_args(num_frames, num_inference_steps, guidance_scale)
        # `num_videos_per_prompt` is fixed to 1 by the parent pipeline: batch with a list of prompts instead.
        if num_videos_per_prompt != 1:
            raise ValueError(f"num_videos_per_prompt={num_videos_per_prompt} is not supported: pass a list of prompts")
        # The parent's __call__ does not pass these to encode_prompt; they live on the instance for one call.
        self._llm_answer_tokens = llm_answer_tokens
        self._answer_generator = generator[0] if isinstance(generator, list) else generator
        try:
            return super().__call__(
                prompt=prompt,
                negative_prompt=negative_prompt,
                height=height,
                width=width,
                num_frames=num_frames,
                num_inference_steps=num_inference_steps,
                timesteps=timesteps,
                guidance_scale=guidance_scale,
                use_dynamic_cfg=use_dynamic_cfg,
                num_videos_per_prompt=1,
                eta=eta,
                generator=generator,
                latents=latents,
                prompt_embeds=prompt_embeds,
                negative_prompt_embeds=negative_prompt_embeds,
                output_type=output_type,
                return_dict=return_dict,
                attention_kwargs=attention_kwargs,
                callback_on_step_end=callback_on_step_end,
                callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
                max_sequence_length=self.config.max_sequence_length,
            )
        finally:
            self._llm_answer_tokens, self._answer_generator = False, None
