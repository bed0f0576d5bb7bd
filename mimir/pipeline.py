"""`MimirPipeline`: diffusers' CogVideoX text-to-video pipeline with Mimir's fused text condition.

The denoising recipe is diffusers' `CogVideoXPipeline.__call__`, inherited unchanged; Mimir changes what the DiT is
conditioned on. `__call__` checks every input (`check_inputs`), runs the encoder branch and the LLM branch, fuses them
with the `TokenFuser` (paper Sec. 3.2) for the prompt and, at the same fused length, for the negative prompt of
classifier-free guidance, and hands the fused `prompt_embeds` / `negative_prompt_embeds` to the parent's denoising
loop. With `fusion_type="t5_only"` the pipeline is exactly CogVideoX (tested against `CogVideoXPipeline`).
"""

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch
from diffusers import CogVideoXPipeline
from diffusers.pipelines.cogvideo.pipeline_output import CogVideoXPipelineOutput

from .checks import SHOWN_CHARS, shown
from .text_encoding import Encoding, LLMBranchConfig, PromptEncoder
from .token_fuser import TokenFuser


# A prompt's length in characters is checked before its tokens are counted, so that a pasted 100 kB text is refused
# without tokenizing it. 16 characters per token is far above what the encoders' vocabularies give for real text
# (about 4 to 5), so this limit never refuses a prompt the token limit would take (our choice).
MAX_CHARS_PER_TOKEN = 16


def _is_finite(value: int | float) -> bool:
    """A number a float holds, not inf or NaN. An int of 400 digits (valid JSON) is not: `math.isfinite` would raise
    OverflowError converting it."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


@dataclass(frozen=True)
class SupportedInputs:
    """What a pipeline accepts, derived from its components; `check_inputs` enforces exactly this."""

    num_frames: tuple[int, ...]  # of the form 2 * t * N + 1 (t = the VAE's temporal factor)
    height: tuple[int, ...]  # multiples of the VAE's spatial factor times the patch size
    width: tuple[int, ...]
    num_inference_steps: tuple[int, int]  # inclusive range
    max_prompt_tokens: int  # n: prompts longer than this are refused, never cut
    max_prompt_chars: int  # refused before any tokenizer reads them: MAX_CHARS_PER_TOKEN * n


@dataclass(frozen=True)
class FusedTokens:
    """The `TokenFuser`'s output: the condition the DiT reads (k = 4 stabilizer tokens with `fusion_type="mimir"`,
    0 without the stabilizer)."""

    embeds: torch.Tensor  # (B, n + k, D)
    mask: torch.Tensor  # (B, n + k)


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
        llm_branch: the LLM-branch settings the fuser was trained with (templates, hidden layers, token selection);
            they belong to the weights (`llm_branch.json` beside `token_fuser/`). Default: the texts of
            `mimir/prompts/llm/branch.json` with the last hidden layer, for untrained fusers.
        max_sequence_length: n, the encoder length (226 for CogVideoX; 32 in the nano preset).
        max_num_frames: the most frames a call may ask for (the DiT's training length at least).
    """

    _optional_components = ["llm_tokenizer", "llm"]
    model_cpu_offload_seq = "text_encoder->llm->token_fuser->transformer->vae"
    # For diffusers' own offload of one pipeline: the 8-bit LLM stays where it was loaded (diffusers issue 10653). The
    # studio's two pipelines share modules and are placed by mimir/offload.py instead, which also moves the LLM where
    # bitsandbytes allows it.
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
        llm_branch: LLMBranchConfig | dict | None = None,
        max_sequence_length: int = 226,
        max_num_frames: int = 49,
    ):
        super().__init__(
            tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler
        )
        self.register_modules(token_fuser=token_fuser, llm_tokenizer=llm_tokenizer, llm=llm)
        if isinstance(llm_branch, dict):
            llm_branch = LLMBranchConfig.from_dict(llm_branch)
        llm_branch = llm_branch or LLMBranchConfig.from_file()
        if token_fuser.uses_llm and len(llm_branch.hidden_layers) != token_fuser.config.num_llm_layers:
            raise ValueError(
                f"llm_branch takes {len(llm_branch.hidden_layers)} hidden layers {llm_branch.hidden_layers}, but the "
                f"token_fuser was built for num_llm_layers={token_fuser.config.num_llm_layers}"
            )
        self.register_to_config(
            llm_branch=llm_branch.to_dict(), max_sequence_length=max_sequence_length, max_num_frames=max_num_frames
        )
        self.llm_branch = llm_branch
        self._prompt_encoder: PromptEncoder | None = None

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
                llm_config=self.llm_branch,
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
        llm_branch: Literal["on", "off"] = "on",
    ) -> tuple[Encoding, FusedTokens]:
        """Both branches' tokens for B prompts and the fused condition made from them, (B, n + k, D) with k = 4 for
        the stabilizer. Also used by the token-space panel, which shows both."""
        device = device or self._execution_device
        dtype = dtype or self.transformer.dtype
        encoding = self.prompt_encoder.encode(
            prompts,
            with_llm=self.token_fuser.uses_llm,
            llm_answer_tokens=llm_answer_tokens,
            generator=generator,
            device=device,
            dtype=dtype,
        )
        fuser_dtype = self.token_fuser.dtype
        cast = lambda t: t.to(device=device, dtype=fuser_dtype)  # noqa: E731
        llm = encoding.llm
        fused, mask = self.token_fuser(
            cast(encoding.encoder.embeds),  # (B, n, D)
            encoding.encoder.mask,  # (B, n)
            None if llm is None else cast(llm.combined.embeds),  # (B, n, L, D_llm)
            None if llm is None else llm.combined.mask,  # (B, n)
            None if llm is None else cast(llm.instruction_embeds),  # (B, 4, L, D_llm)
            llm_branch=llm_branch,
        )  # (B, n + k, D), (B, n + k)
        return encoding, FusedTokens(fused.to(dtype), mask)

    def encode_prompt(
        self,
        prompt: str | list[str] | None,
        negative_prompt: str | list[str] | None = None,
        do_classifier_free_guidance: bool = True,
        num_videos_per_prompt: int = 1,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        max_sequence_length: int | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
        llm_answer_tokens: bool = False,
        generator: torch.Generator | None = None,
        llm_branch: Literal["on", "off"] = "on",
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Fused condition of the prompt and of the negative prompt, both (B * num_videos_per_prompt, n + k, D).

        The negative condition goes through the same fuser, so both have the fused length n + k (CFG batches them).
        An empty negative prompt is the empty text: the LLM branch gives it no tokens (see `PromptEncoder`).
        """
        self._check_max_sequence_length(max_sequence_length)
        device = device or self._execution_device
        dtype = dtype or self.transformer.dtype
        prompt = [prompt] if isinstance(prompt, str) else prompt
        batch_size = len(prompt) if prompt is not None else prompt_embeds.shape[0]

        def encode(texts: list[str]) -> torch.Tensor:
            _, fused = self.encode_tokens(
                texts, llm_answer_tokens, generator, device=device, dtype=dtype, llm_branch=llm_branch
            )
            return fused.embeds  # (B, n + k, D)

        if prompt_embeds is None:
            prompt_embeds = encode(prompt)
        if do_classifier_free_guidance and negative_prompt_embeds is None:
            negative_prompt = negative_prompt or ""
            negative_prompt = batch_size * [negative_prompt] if isinstance(negative_prompt, str) else negative_prompt
            if len(negative_prompt) != batch_size:
                raise ValueError(f"negative_prompt has batch size {len(negative_prompt)}, but prompt has {batch_size}")
            negative_prompt_embeds = encode(negative_prompt)

        prompt_embeds = prompt_embeds.repeat_interleave(num_videos_per_prompt, dim=0)
        if negative_prompt_embeds is not None:
            negative_prompt_embeds = negative_prompt_embeds.repeat_interleave(num_videos_per_prompt, dim=0)
        return prompt_embeds, negative_prompt_embeds

    # ---- checks ----------------------------------------------------------------------------------------------

    @property
    def spatial_multiple(self) -> int:
        """Height and width must be multiples of this (VAE downsampling times the DiT's patch size)."""
        return self.vae_scale_factor_spatial * self.transformer.config.patch_size

    @property
    def supported_inputs(self) -> SupportedInputs:
        """Frame counts, sizes, step counts and prompt length this pipeline accepts."""
        # The CogVideoX VAE decodes 1 + t * k frames exactly only when the latent count k + 1 is odd (8N + 1, t=4).
        step = 2 * self.vae_scale_factor_temporal
        m = self.spatial_multiple
        # Twice the DiT's training size at most: RoPE tables beyond that are untested extrapolation.
        max_h = 2 * self.transformer.config.sample_height * self.vae_scale_factor_spatial
        max_w = 2 * self.transformer.config.sample_width * self.vae_scale_factor_spatial
        return SupportedInputs(
            num_frames=tuple(range(step + 1, self.config.max_num_frames + 1, step)),
            height=tuple(range(m, max_h + 1, m)),
            width=tuple(range(m, max_w + 1, m)),
            num_inference_steps=(1, self.scheduler.config.num_train_timesteps),
            max_prompt_tokens=self.config.max_sequence_length,
            max_prompt_chars=MAX_CHARS_PER_TOKEN * self.config.max_sequence_length,
        )

    def prompt_token_count(self, prompt: str) -> int:
        """Tokens `prompt` takes in the encoder branch (special tokens included) and, with an LLM, in the LLM branch;
        the larger of the two, which must fit in n."""
        [encoder_text], [llm_text] = self.prompt_encoder.branch_texts([prompt])  # what each branch will read
        count = len(self.tokenizer(encoder_text, add_special_tokens=True).input_ids)
        if self.token_fuser.uses_llm and self.llm_tokenizer is not None:
            count = max(count, len(self.llm_tokenizer(llm_text, add_special_tokens=False).input_ids))
        return count

    def check_prompt_lengths(self, texts: list[str], name: str = "prompt") -> None:
        """Refuse a text this model cannot read whole: not text, more than `max_prompt_chars` characters (checked
        first, without tokenizing: a pasted 100 kB text costs no tokenizer time), or more than the n tokens this
        pipeline reads; it never cuts a prompt silently. Part of `check_inputs`; also called by callers that encode
        without generating (the token space)."""
        supported = self.supported_inputs
        limit = supported.max_prompt_tokens
        for text in texts:
            if not isinstance(text, str):
                raise ValueError(f"{name} must be text, got {shown(text)}")
            if len(text) > supported.max_prompt_chars:
                raise ValueError(
                    f"{name} is {len(text)} characters long; this model reads at most {supported.max_prompt_chars} "
                    f"characters ({limit} tokens): shorten {text[:SHOWN_CHARS]!r}..."
                )
            count = self.prompt_token_count(text)
            if count > limit:
                raise ValueError(
                    f"{name} is {count} tokens long; this model reads at most {limit} (max_sequence_length) and "
                    f"never cuts a prompt silently: shorten {text[:SHOWN_CHARS]!r}..."
                )

    def _check_max_sequence_length(self, max_sequence_length: int | None) -> None:
        if max_sequence_length is not None and max_sequence_length != self.config.max_sequence_length:
            raise ValueError(
                f"max_sequence_length={shown(max_sequence_length)} differs from this pipeline's "
                f"{self.config.max_sequence_length}: the DiT and the fuser were built for that length"
            )

    def check_inputs(
        self,
        prompt,
        height,
        width,
        negative_prompt,
        callback_on_step_end_tensor_inputs,
        prompt_embeds=None,
        negative_prompt_embeds=None,
        num_frames: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        max_sequence_length: int | None = None,
        llm_branch: str | None = None,
        num_videos_per_prompt: int | None = None,
        llm_answer_tokens: bool | None = None,
    ):
        """Every rule of a call in one place; each error quotes the value and the rule. The parent's denoising call
        repeats this check with the fused embeddings (then prompt and the generation arguments are None)."""
        supported = self.supported_inputs
        if num_videos_per_prompt is not None and num_videos_per_prompt != 1:
            raise ValueError(f"num_videos_per_prompt={shown(num_videos_per_prompt)} must be 1: pass a list of prompts")
        if llm_answer_tokens and not self.token_fuser.uses_llm:
            raise ValueError("llm_answer_tokens=True needs the LLM branch (fusion_type other than 't5_only')")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        negatives = [negative_prompt] if isinstance(negative_prompt, str) else (negative_prompt or [])
        if prompts is not None:
            if not isinstance(prompts, list) or not prompts:
                raise ValueError(f"prompt must be text or a non-empty list of texts, got {shown(prompt)}")
            for p in prompts:
                if not isinstance(p, str) or not p.strip():
                    raise ValueError(f"prompt must be non-empty text, got {shown(p)}")
        self.check_prompt_lengths(prompts or [], "prompt")
        self.check_prompt_lengths(negatives, "negative_prompt")
        for name, value, allowed in (("height", height, supported.height), ("width", width, supported.width)):
            if not isinstance(value, int) or isinstance(value, bool) or value not in allowed:
                raise ValueError(
                    f"{name}={shown(value)} is not supported: it must be a multiple of {allowed[0]} in "
                    f"[{allowed[0]}, {allowed[-1]}]"
                )
        if num_frames is not None and (
            not isinstance(num_frames, int) or isinstance(num_frames, bool) or num_frames not in supported.num_frames
        ):
            step = supported.num_frames[0] - 1
            raise ValueError(
                f"num_frames={shown(num_frames)} is not supported by the VAE: it must be of the form {step}*N + 1 "
                f"in [{supported.num_frames[0]}, {supported.num_frames[-1]}]"
            )
        lo, hi = supported.num_inference_steps
        if num_inference_steps is not None and (
            not isinstance(num_inference_steps, int)
            or isinstance(num_inference_steps, bool)
            or not lo <= num_inference_steps <= hi
        ):
            raise ValueError(f"num_inference_steps={shown(num_inference_steps)} must be an integer in [{lo}, {hi}]")
        if guidance_scale is not None and (
            not isinstance(guidance_scale, (int, float))
            or isinstance(guidance_scale, bool)
            or not _is_finite(guidance_scale)
            or guidance_scale < 0
        ):
            raise ValueError(f"guidance_scale={shown(guidance_scale)} must be a finite number >= 0")
        self._check_max_sequence_length(max_sequence_length)
        if llm_branch is not None and llm_branch not in ("on", "off"):
            raise ValueError(f"llm_branch must be 'on' or 'off', got {shown(llm_branch)}")
        super().check_inputs(
            prompt,
            height,
            width,
            negative_prompt,
            callback_on_step_end_tensor_inputs,
            prompt_embeds,
            negative_prompt_embeds,
        )

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
        llm_branch: Literal["on", "off"] = "on",
    ) -> CogVideoXPipelineOutput | tuple:
        r"""Generate videos from text.

        Args:
            prompt (`str` or `list[str]`): the text(s); each must fit in `max_sequence_length` tokens.
            negative_prompt (`str` or `list[str]`, *optional*): the CFG negative; default the empty text.
            height, width (`int`, *optional*): frame size in pixels; `supported_inputs` lists the legal values.
                Default: the DiT's training size.
            num_frames (`int`, *optional*): of the form 8N + 1 up to `max_num_frames`; default the DiT's.
            num_inference_steps (`int`): denoising steps.
            timesteps (`list[int]`, *optional*): custom timesteps for the scheduler.
            guidance_scale (`float`): classifier-free guidance weight; CFG is off at 1 and below.
            use_dynamic_cfg (`bool`): CogVideoX's cosine CFG schedule.
            num_videos_per_prompt (`int`): must be 1; batch with a list of prompts instead (the parent pins it).
            eta (`float`): DDIM eta.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): one per prompt makes each video
                independent of the batch it is in. Its seed also seeds the LLM's answers (`llm_answer_tokens`).
            latents (`torch.Tensor`, *optional*): initial noise (B, F_lat, C, h, w).
            prompt_embeds, negative_prompt_embeds (`torch.Tensor`, *optional*): fused conditions (B, n + k, D)
                computed beforehand (e.g. by `encode_prompt`); then `prompt` must be None.
            output_type (`str`): `"pil"`, `"np"`, `"pt"` or `"latent"`.
            return_dict (`bool`): return a `CogVideoXPipelineOutput` rather than a tuple.
            attention_kwargs (`dict`, *optional*): passed to the attention processors.
            callback_on_step_end (`Callable`, *optional*): called after each step as in diffusers.
            callback_on_step_end_tensor_inputs (`list[str]`): tensors handed to the callback.
            max_sequence_length (`int`, *optional*): must equal the pipeline's n when given (the DiT and the fuser
                were built for it).
            llm_answer_tokens (`bool`): the LLM first samples an imagined description, seeded by `generator`, whose
                tokens join the condition (the paper's answer tokens).
            llm_branch (`"on"` or `"off"`): `"off"` zeroes the LLM branch's contribution at inference (a reliance
                probe; the condition keeps its length).

        Returns:
            `CogVideoXPipelineOutput` with `frames` (B, F, H, W, 3) for `output_type="np"`, or a tuple.
        """
        # 1. Defaults and checks (before anything runs)
        height = height or self.transformer.config.sample_height * self.vae_scale_factor_spatial
        width = width or self.transformer.config.sample_width * self.vae_scale_factor_spatial
        num_frames = num_frames or self.transformer.config.sample_frames
        self.check_inputs(
            prompt,
            height,
            width,
            negative_prompt,
            callback_on_step_end_tensor_inputs,
            prompt_embeds,
            negative_prompt_embeds,
            num_frames=num_frames,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            max_sequence_length=max_sequence_length,
            llm_branch=llm_branch,
            num_videos_per_prompt=num_videos_per_prompt,
            llm_answer_tokens=llm_answer_tokens,
        )

        # 2. Fused text condition of the prompt and the negative prompt
        answer_generator = generator[0] if isinstance(generator, list) else generator
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompt,
            negative_prompt,
            do_classifier_free_guidance=guidance_scale > 1.0,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            llm_answer_tokens=llm_answer_tokens,
            generator=answer_generator,
            llm_branch=llm_branch,
        )  # (B, n + k, D) each

        # 3. Latents, denoising loop and decoding: diffusers' CogVideoX recipe, on the fused condition
        return super().__call__(
            prompt=None,
            negative_prompt=None,
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
