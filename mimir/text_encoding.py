"""The two text branches of Mimir: the encoder branch (T5 / MiniLM) and the decoder-only LLM branch (Phi-3.5 /
SmolLM2), with the Semantic Stabilizer's instruction tokens and the optional sampled answers.

`PromptEncoder.encode(prompts)` is the one entry point: the pipeline, the training code and the token-space analysis
all call it, so a prompt is encoded the same way everywhere. Deterministic encodings (no sampled answer) are cached per
prompt for the session.
"""

import json
import logging
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields, replace
from importlib.resources import files
from pathlib import Path
from typing import Literal

import torch

from .llm_prefix import Group, PrefixCache, fixed_prefix_ids, hidden_after_prefixes
from .offload import compute_device


logger = logging.getLogger(__name__)

BRANCH_TEXTS = files("mimir") / "prompts" / "llm" / "branch.json"
LLM_BRANCH_FILE = "llm_branch.json"
ZERO_WIDTH_SPACE = "\u200b"


@dataclass(frozen=True)
class LLMBranchConfig:
    """How the LLM branch turns a prompt into tokens. Every field is our choice where the paper is silent.

    Attributes:
        system_prompt: system message of the chat template (the paper does not publish its template).
        instructions: the four attribute instructions of the Semantic Stabilizer (objects, colours, layout, time),
            each with a `{prompt}` slot; each yields one instruction token.
        answer_instruction: the request whose sampled reply gives the answer tokens (`llm_answer_tokens=True`).
        hidden_layers: which hidden states to take, as indices into the model's `hidden_states` (0 = the embedding
            output, -1 = the last layer after the final norm). Several layers travel side by side as (.., L, D_llm)
            and the `TokenFuser` mixes them (`num_llm_layers`, learned softmax weights over normalised layers). Our
            choice; the paper takes the LLM's output. Saved with the weights (`llm_branch.json`).
        token_selection: `"prompt"` keeps only the hidden states at the user prompt's own tokens (the template's
            system text is the same for every prompt and would fill the n positions); `"all"` keeps the whole template.
        answer_max_new_tokens, answer_temperature, answer_top_p: sampling settings of the answer (explicit, seeded).
    """

    system_prompt: str
    instructions: tuple[str, ...]
    answer_instruction: str
    hidden_layers: tuple[int, ...] = (-1,)
    token_selection: Literal["prompt", "all"] = "prompt"
    answer_max_new_tokens: int = 24
    answer_temperature: float = 0.8
    answer_top_p: float = 0.95

    def __post_init__(self):
        if not self.hidden_layers or not all(isinstance(i, int) for i in self.hidden_layers):
            raise ValueError(f"hidden_layers must be a non-empty tuple of ints, got {self.hidden_layers!r}")
        if self.token_selection not in ("prompt", "all"):
            raise ValueError(f"token_selection must be 'prompt' or 'all', got {self.token_selection!r}")

    @classmethod
    def from_file(cls, path: str | Path | None = None, **overrides) -> "LLMBranchConfig":
        """The default texts of `mimir/prompts/llm/branch.json` (for a new training run), with field overrides."""
        texts = json.loads(Path(path or BRANCH_TEXTS).read_text())
        config = cls(
            system_prompt=texts["system_prompt"],
            instructions=tuple(texts["instructions"]),
            answer_instruction=texts["answer_instruction"],
        )
        return replace(config, **overrides)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "LLMBranchConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown LLM-branch settings {sorted(unknown)}; known: {sorted(known)}")
        values = dict(values)
        values["instructions"] = tuple(values["instructions"])
        values["hidden_layers"] = tuple(values.get("hidden_layers", (-1,)))
        return cls(**values)

    def save(self, folder: str | Path) -> Path:
        """Write `llm_branch.json` into a weights folder: the settings a trained fuser was trained with."""
        path = Path(folder) / LLM_BRANCH_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "LLMBranchConfig":
        """The settings saved beside a trained `token_fuser/`; editing `mimir/prompts/llm/branch.json` cannot change
        them."""
        path = Path(folder) / LLM_BRANCH_FILE
        if not path.is_file():
            raise ValueError(f"{str(path)!r} is missing: a Mimir weights folder must hold the LLM-branch settings")
        return cls.from_dict(json.loads(path.read_text()))


@dataclass(frozen=True)
class EncoderTokens:
    """The encoder branch's tokens for B prompts (n = `max_sequence_length`)."""

    embeds: torch.Tensor  # (B, n, D)
    mask: torch.Tensor  # (B, n), 1 for real tokens
    token_strs: list[list[str]]  # the real tokens of each prompt


@dataclass(frozen=True)
class LLMTokens:
    """Hidden states of the LLM branch at m token positions (L = layers taken, `LLMBranchConfig.hidden_layers`)."""

    embeds: torch.Tensor  # (B, m, L, D_llm), zeros where `mask` is 0
    mask: torch.Tensor  # (B, m)
    token_strs: list[list[str]]  # the real tokens of each prompt


@dataclass(frozen=True)
class Answers:
    """The sampled answers (`llm_answer_tokens=True`); an empty prompt gets none (`""`, mask 0)."""

    tokens: LLMTokens  # (B, a, L, D_llm), zero-padded to the longest answer a
    texts: list[str]


@dataclass(frozen=True)
class LLMBranchTokens:
    """What the LLM branch gives B prompts. An empty prompt has no query tokens and zero instruction tokens."""

    combined: LLMTokens  # (B, n, L, D_llm): query then answer tokens, aligned to the encoder's n; the fuser's `h`
    query: LLMTokens  # (B, n, L, D_llm): the query tokens alone, aligned the same way
    instruction_embeds: torch.Tensor  # (B, 4, L, D_llm): the Semantic Stabilizer's `h_i`, one per instruction
    answers: Answers | None = None  # only with `llm_answer_tokens=True`


@dataclass(frozen=True)
class Encoding:
    """Both text branches' tokens for B prompts; `llm` is None without the LLM branch (`t5_only`)."""

    encoder: EncoderTokens
    llm: LLMBranchTokens | None = None


def encode_encoder_branch(
    tokenizer, text_encoder, prompts: list[str], max_sequence_length: int, device, dtype
) -> tuple[torch.Tensor, torch.Tensor, list[list[str]]]:
    """Encoder branch exactly as diffusers' CogVideoXPipeline runs T5: pad to `max_sequence_length`, truncate with a
    warning, and run the encoder on the ids alone (CogVideoX was trained with the padded positions visible).

    Returns `(embeds (B, n, D), mask (B, n), token strings)`.
    """
    inputs = tokenizer(
        prompts,
        padding="max_length",
        max_length=max_sequence_length,
        truncation=True,
        add_special_tokens=True,
        return_tensors="pt",
    )
    untruncated = tokenizer(prompts, padding="longest", return_tensors="pt").input_ids
    if untruncated.shape[-1] >= inputs.input_ids.shape[-1] and not torch.equal(inputs.input_ids, untruncated):
        removed = tokenizer.batch_decode(untruncated[:, max_sequence_length - 1 : -1])
        logger.warning(
            "The following part of your input was truncated because `max_sequence_length` is set to "
            f" {max_sequence_length} tokens: {removed}"
        )
    # Where the encoder runs, not where its weights are: under offload they wait on the CPU or on `meta`.
    ids = inputs.input_ids.to(compute_device(text_encoder))  # (B, n)
    embeds = text_encoder(ids)[0].to(device=device, dtype=dtype)  # (B, n, D)
    token_strs = [
        tokenizer.convert_ids_to_tokens(ids[m.bool()]) for ids, m in zip(inputs.input_ids, inputs.attention_mask)
    ]
    return embeds, inputs.attention_mask.to(device), token_strs


class PromptEncoder:
    """Runs both text branches for a pipeline; caches deterministic encodings per prompt.

    Args:
        tokenizer, text_encoder: the encoder branch (T5 / MiniLM).
        llm_tokenizer, llm: the LLM branch (Phi-3.5 / SmolLM2); None for the t5_only baseline.
        max_sequence_length: n, the encoder length that the LLM tokens are aligned to.
        llm_config: templates and layer choice of the LLM branch.
        cache_size: prompts kept in the session cache.
        batch_size: prompts per batched forward pass.
    """

    def __init__(
        self,
        tokenizer,
        text_encoder,
        llm_tokenizer=None,
        llm=None,
        max_sequence_length: int = 226,
        llm_config: LLMBranchConfig | None = None,
        cache_size: int = 256,
        batch_size: int = 64,
    ):
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        self.llm_tokenizer = llm_tokenizer
        self.llm = llm
        self.max_sequence_length = max_sequence_length
        self.llm_config = llm_config or LLMBranchConfig.from_file()
        self.cache_size = cache_size
        self.batch_size = batch_size
        self._cache: OrderedDict[tuple, Encoding] = OrderedDict()
        # The LLM branch's prompt-independent prefixes (mimir/llm_prefix.py): kept across prompts and `clear_cache`.
        self.prefix_cache = PrefixCache()
        self._prefix_ids: dict[tuple[str, str], tuple[int, ...]] = {}

    def branch_texts(self, prompts: list[str]) -> tuple[list[str], list[str]]:
        """The user's texts as each branch reads them: (encoder branch, LLM branch), every special token string that
        a user typed broken by `escape_special_tokens` with that branch's own tokenizer. The one place user text is
        made safe for the tokenizers; `encode` and the pipeline's token count both read these."""
        encoder = [escape_special_tokens(self.tokenizer, p) for p in prompts]
        llm = [escape_special_tokens(self.llm_tokenizer, p) for p in prompts]
        return encoder, llm

    # ---- encoder branch -------------------------------------------------------------------------------------------

    @torch.no_grad()
    def encode(
        self,
        prompts: list[str],
        with_llm: bool,
        llm_answer_tokens: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> Encoding:
        """Encode a batch through the encoder branch and (if `with_llm`) the LLM branch.

        Answers are sampled with `generator` (seeded); without a generator they are sampled from a fresh seed.
        """
        if llm_answer_tokens and not with_llm:
            raise ValueError("llm_answer_tokens=True needs the LLM branch (fusion_type other than 't5_only')")
        if llm_answer_tokens:
            # Sampled answers vary from call to call on purpose (the paper's volatility): never cached.
            # The seed is read, not drawn, from the generator: the latents drawn later must match the t5_only column.
            seed = generator.initial_seed() if generator is not None else None
            parts = self._encode_batch(prompts, with_llm, answer_seed=seed if seed is not None else -1)
        else:
            missing = list(dict.fromkeys(p for p in prompts if (p, with_llm) not in self._cache))
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start : start + self.batch_size]
                for prompt, encoding in zip(chunk, self._encode_batch(chunk, with_llm, answer_seed=None)):
                    self._cache[(prompt, with_llm)] = encoding
            parts = []
            for p in prompts:
                self._cache.move_to_end((p, with_llm))
                parts.append(self._cache[(p, with_llm)])
            while len(self._cache) > max(self.cache_size, len(prompts)):
                self._cache.popitem(last=False)
        return _stack(parts, device=device, dtype=dtype)

    def clear_cache(self) -> None:
        self._cache.clear()

    def _encode_batch(self, prompts: list[str], with_llm: bool, answer_seed: int | None) -> list[Encoding]:
        """Encode B prompts in batched forward passes; returns one single-prompt encoding each (for the cache)."""
        # The user's texts as each branch reads them: typed special tokens ("[SEP]", "<|im_start|>") stay text.
        encoder_prompts, llm_prompts = self.branch_texts(prompts)
        embeds, mask, strs = encode_encoder_branch(
            self.tokenizer, self.text_encoder, encoder_prompts, self.max_sequence_length, "cpu", torch.float32
        )  # (B, n, D), (B, n)
        encoders = [EncoderTokens(embeds[i : i + 1], mask[i : i + 1], [strs[i]]) for i in range(len(prompts))]
        if not with_llm:
            return [Encoding(encoder=e) for e in encoders]
        if self.llm is None:
            raise ValueError("this pipeline has no LLM branch (llm=None); load it with an LLM for this fusion_type")
        # An empty prompt carries no text: the LLM branch gives it no tokens (mask 0), zero instruction tokens and no
        # answer. The chat template alone (system prompt + markers) is never encoded as if it were a prompt: it is the
        # same for every prompt, and CFG's negative prompt and caption dropout would otherwise condition on it.
        texted = [i for i, p in enumerate(prompts) if p.strip()]
        L, d = len(self.llm_config.hidden_layers), self._llm_dim()
        queries: dict[int, tuple[torch.Tensor, list[str]]]
        queries = {i: (torch.zeros(0, L, d), []) for i in range(len(prompts))}
        instructions = torch.zeros(len(prompts), len(self.llm_config.instructions), L, d)  # (B, 4, L, D_llm)
        if texted:
            kept = [llm_prompts[i] for i in texted]
            # The prompts and every (instruction, prompt) pair in one forward pass of B * (1 + K) rows, each template's
            # prompt-independent prefix (system prompt, markers, instruction words) taken from the prefix cache, so
            # only the prompts' own tokens run (mimir/llm_prefix.py).
            templates = ["{prompt}", *self.llm_config.instructions]
            runs = self._run_llm_templates(templates, kept)  # per template: (B, m_t, L, D_llm), info
            hidden, info = runs[0]
            texts = [self._chat(p) for p in kept]
            queries.update(zip(texted, self._select_spans(texts, kept, hidden, info)))  # (m, L, D_llm)
            for k, (hidden, info) in enumerate(runs[1:]):
                instructions[texted, k] = self._last_tokens(hidden, info["mask"])  # (B_text, L, D_llm)
        answers: dict[int, tuple[str, torch.Tensor, list[str]]] = {}
        if answer_seed is not None:
            for i in texted:
                seed = answer_seed + i if answer_seed >= 0 else int(torch.randint(0, 2**31 - 1, (1,)).item())
                text = self._sample_answer(llm_prompts[i], seed)
                chat = self._chat(self.llm_config.answer_instruction.format(prompt=llm_prompts[i]), text)
                hidden, answer_strs = self._llm_hidden([chat], [text])[0]  # (a, L, D_llm)
                answers[i] = (text, hidden, answer_strs)
        encodings = []
        for i, encoder in enumerate(encoders):
            query, query_strs = queries[i]  # (m, L, D_llm)
            tokens, token_strs, answer = query, query_strs, None
            if answer_seed is not None:
                text, hidden, answer_strs = answers.get(i, ("", torch.zeros(0, L, d), []))  # (a, L, D_llm)
                answer_mask = torch.ones(1, hidden.shape[0], dtype=torch.long)  # (1, a)
                answer_tokens = LLMTokens(hidden.unsqueeze(0), answer_mask, [answer_strs])  # (1, a, L, D_llm)
                answer = Answers(answer_tokens, [text])
                tokens, token_strs = torch.cat([query, hidden]), query_strs + answer_strs  # (m + a, L, D_llm)
            llm = LLMBranchTokens(
                combined=_align(tokens, token_strs, self.max_sequence_length),  # (1, n, L, D_llm)
                query=_align(query, query_strs, self.max_sequence_length),  # (1, n, L, D_llm)
                instruction_embeds=instructions[i : i + 1],  # (1, 4, L, D_llm)
                answers=answer,
            )
            encodings.append(Encoding(encoder=encoder, llm=llm))
        return encodings

    def _llm_dim(self) -> int:
        return self.llm.config.hidden_size

    # ---- LLM branch -----------------------------------------------------------------------------------------------

    def _chat(self, user_text: str, assistant_text: str | None = None) -> str:
        messages = [
            {"role": "system", "content": self.llm_config.system_prompt},
            {"role": "user", "content": user_text},
        ]
        text = self.llm_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + assistant_text if assistant_text is not None else text

    def _tokenize(self, texts: list[str]) -> dict:
        """Right-padded token ids, mask and character offsets of `texts` (B, m)."""
        tok = self.llm_tokenizer
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "right"
        inputs = tok(texts, return_tensors="pt", padding=True, return_offsets_mapping=True, add_special_tokens=False)
        _check_llm_context(self.llm, inputs.input_ids.shape[1])
        return {"ids": inputs.input_ids, "mask": inputs.attention_mask.bool(), "offsets": inputs.offset_mapping}

    def _run_llm(self, texts: list[str]) -> tuple[torch.Tensor, dict]:
        """Right-padded batched forward pass (causal attention: padding after a sequence cannot change it)."""
        info = self._tokenize(texts)
        device = compute_device(self.llm)
        ids, mask = info["ids"].to(device), info["mask"].to(device)  # (B, m), (B, m)
        hidden = llm_hidden_states(self.llm, ids, mask, self.llm_config.hidden_layers).float().cpu()  # (B, m, L, D)
        return hidden, info

    def _run_llm_templates(self, templates: list[str], prompts: list[str]) -> list[tuple[torch.Tensor, dict]]:
        """`_run_llm` of `_chat(template.format(prompt=p))` for every template and prompt, in one forward pass that
        starts every row after its template's cached prefix. One (hidden (B, m_t, L, D_llm), info) per template."""
        device = compute_device(self.llm)
        layers = self.llm_config.hidden_layers
        infos, groups = [], []
        for template in templates:
            info = self._tokenize([self._chat(template.format(prompt=p)) for p in prompts])
            ids, mask = info["ids"].to(device), info["mask"].to(device)  # (B, m_t)
            prefix_ids = self._template_prefix(template)
            P = len(prefix_ids)
            # A row that does not start with the prefix (a tokenizer merge at its end) or has no token of its own
            # after it runs whole: never assume the cache applies.
            fits = 0 < P < int(mask.sum(dim=1).min()) and bool(
                (ids[:, :P] == torch.tensor(prefix_ids, device=device)).all()
            )
            prefix = self.prefix_cache.get(self.llm, prefix_ids, layers, device) if fits else None
            start = P if fits else 0
            groups.append(Group(ids[:, start:], mask[:, start:], prefix))
            infos.append(info)
        pad = self.llm_tokenizer.pad_token_id
        hidden = hidden_after_prefixes(self.llm, groups, layers, pad)  # per template: (B, m_t, L, D_llm)
        return [(h.float().cpu(), info) for h, info in zip(hidden, infos)]

    def _template_prefix(self, template: str) -> tuple[int, ...]:
        """The ids every `_chat(template.format(prompt=...))` starts with, whatever the prompt (computed once)."""
        key = (self.llm_config.system_prompt, template)
        if key not in self._prefix_ids:
            tokenize = lambda text: self.llm_tokenizer(text, add_special_tokens=False).input_ids  # noqa: E731
            self._prefix_ids[key] = fixed_prefix_ids(tokenize, template, self._chat)
        return self._prefix_ids[key]

    def _llm_hidden(self, texts: list[str], spans: list[str]) -> list[tuple[torch.Tensor, list[str]]]:
        """Hidden states of each text; with `token_selection="prompt"` only those overlapping the last occurrence of
        its span (the user's prompt inside the template). One `((m_i, L, D_llm), token strings)` per text."""
        hidden, info = self._run_llm(texts)
        return self._select_spans(texts, spans, hidden, info)

    def _select_spans(
        self, texts: list[str], spans: list[str], hidden: torch.Tensor, info: dict
    ) -> list[tuple[torch.Tensor, list[str]]]:
        """`_llm_hidden`'s selection on a pass already run: row i of `hidden` and `info` belongs to `texts[i]` (a pass
        may hold more rows than `texts`)."""
        results = []
        for i, (text, span) in enumerate(zip(texts, spans)):
            keep = info["mask"][i].clone()
            if self.llm_config.token_selection == "prompt" and span:
                start = text.rfind(span)
                end = start + len(span)
                starts, ends = info["offsets"][i, :, 0], info["offsets"][i, :, 1]
                keep &= (ends > start) & (starts < end)
            results.append((hidden[i][keep], self.llm_tokenizer.convert_ids_to_tokens(info["ids"][i][keep])))
        return results

    @staticmethod
    def _last_tokens(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The instruction token: hidden states (B, m, L, D_llm) at the last real position of each row (mask (B, m)).

        Returns (B, L, D_llm)."""
        last = mask.sum(dim=1) - 1  # (B,)
        return hidden[torch.arange(hidden.shape[0]), last]

    def _sample_answer(self, prompt: str, seed: int) -> str:
        text = self._chat(self.llm_config.answer_instruction.format(prompt=prompt))
        inputs = self.llm_tokenizer(text, return_tensors="pt", add_special_tokens=False)
        _check_llm_context(self.llm, inputs.input_ids.shape[1] + self.llm_config.answer_max_new_tokens)
        device = compute_device(self.llm)
        # generate() draws from the global RNG: fork it so a seeded answer leaves the caller's RNG untouched.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            out = self.llm.generate(
                **{k: v.to(device) for k, v in inputs.items()},
                do_sample=True,
                temperature=self.llm_config.answer_temperature,
                top_p=self.llm_config.answer_top_p,
                max_new_tokens=self.llm_config.answer_max_new_tokens,
                pad_token_id=self.llm_tokenizer.eos_token_id,
            )
        answer = self.llm_tokenizer.decode(out[0, inputs.input_ids.shape[1] :], skip_special_tokens=True).strip()
        return answer or "."


@torch.no_grad()
def llm_hidden_states(llm, ids: torch.Tensor, mask: torch.Tensor, layers: list[int]) -> torch.Tensor:
    """Hidden states of right-padded token ids (B, S) with mask (B, S) at `layers`: (B, S, L, D_llm).

    The leading tokens that every row shares (the chat template's system prompt) run once and their key/value cache is
    repeated over the batch; causal attention makes this exact up to float rounding, and it halves the work of a
    prompt's five passes on a CPU. Only the last position's logits are computed: nothing reads them. The model is
    called as a whole (not its decoder alone) so that offload hooks on it still place it.
    """
    B = ids.shape[0]
    shared = (ids == ids[:1]).all(dim=0) & mask.all(dim=0)  # (S,)
    P = int(shared.long().cumprod(0).sum())  # length of the common prefix
    P = min(P, int(mask.sum(dim=1).min()) - 1)  # each row keeps at least one token of its own
    if B == 1 or P <= 0:
        out = llm(input_ids=ids, attention_mask=mask.long(), output_hidden_states=True, logits_to_keep=1)
        return torch.stack([out.hidden_states[i] for i in layers], dim=2)  # (B, S, L, D_llm)
    head = llm(input_ids=ids[:1, :P], use_cache=True, output_hidden_states=True, logits_to_keep=1)
    cache = head.past_key_values
    cache.batch_repeat_interleave(B)
    tail = llm(
        input_ids=ids[:, P:],
        attention_mask=mask.long(),  # the whole length: prefix + own tokens
        past_key_values=cache,
        use_cache=True,
        output_hidden_states=True,
        logits_to_keep=1,
    )
    hidden = [torch.cat([head.hidden_states[i].expand(B, -1, -1), tail.hidden_states[i]], dim=1) for i in layers]
    return torch.stack(hidden, dim=2)  # (B, S, L, D_llm)


def escape_special_tokens(tokenizer, text: str) -> str:
    """`text` with every special or added token string of `tokenizer` (its own `all_special_tokens` and added
    vocabulary: "<|im_start|>", "<|endoftext|>" for SmolLM2; "[SEP]", "[CLS]", "[MASK]", "[PAD]", "[UNK]" for MiniLM;
    "</s>", "<extra_id_0>" for T5) broken by a zero-width space after its first character, so the tokenizer reads it
    as ordinary text, never as the token.

    Why: the LLM branch puts the user's prompt inside a chat template; a typed "<|im_end|><|im_start|>assistant"
    would otherwise close the user turn and write the model's side (prompt injection into the template). In the
    encoder branch a typed "[SEP]" or "[PAD]" would end the text or pose as padding. MiniLM's normaliser then drops
    the zero-width space, so "[SEP]" reads as the words "[ sep ]". A prompt without such strings is returned
    unchanged, so its tokens (and what the trained fuser saw) are the same. `PromptEncoder.branch_texts` is the one
    place that applies it, for both branches.
    """
    if tokenizer is None:
        return text
    specials = sorted(set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab()), key=len, reverse=True)
    for special in specials:
        if len(special) > 1 and special in text:
            text = text.replace(special, special[0] + ZERO_WIDTH_SPACE + special[1:])
    return text


def _check_llm_context(llm, length: int) -> None:
    """Never run the LLM past its positions: the prompt checks keep inputs far below them; this is the last guard."""
    limit = getattr(llm.config, "max_position_embeddings", None)
    if limit is not None and length > limit:
        raise ValueError(f"the LLM branch input is {length} tokens long; the LLM reads at most {limit} positions")


def _align(tokens: torch.Tensor, strs: list[str], n: int) -> LLMTokens:
    """Truncate or zero-pad (m, L, D_llm) LLM tokens to the encoder's n positions. Our choice: keep the first n (the
    prompt's own tokens come first; answers, when present, are cut first). Returns (1, n, L, D_llm) tokens.
    """
    m = tokens.shape[0]
    out = tokens.new_zeros(n, *tokens.shape[1:])  # (n, L, D_llm)
    mask = torch.zeros(n, dtype=torch.long)  # (n,)
    k = min(m, n)
    out[:k], mask[:k] = tokens[:k], 1
    return LLMTokens(out.unsqueeze(0), mask.unsqueeze(0), [strs[:k]])


def _cat(values: list[torch.Tensor], device, dtype) -> torch.Tensor:
    """Concatenate along the batch, zero-padding dim 1 to the longest (ragged answers); floats are cast to dtype."""
    longest = max(v.shape[1] for v in values)
    if any(v.shape[1] != longest for v in values):
        values = [torch.nn.functional.pad(v, (0, 0) * (v.dim() - 2) + (0, longest - v.shape[1])) for v in values]
    out = torch.cat(values)  # (B, longest, ...)
    return out.to(device=device, dtype=dtype) if out.is_floating_point() else out.to(device)


def _stack_llm_tokens(parts: list[LLMTokens], device, dtype) -> LLMTokens:
    return LLMTokens(
        embeds=_cat([p.embeds for p in parts], device, dtype),  # (B, m, L, D_llm), m the longest
        mask=_cat([p.mask for p in parts], device, dtype),  # (B, m)
        token_strs=[s for p in parts for s in p.token_strs],
    )


def _stack(parts: list[Encoding], device, dtype) -> Encoding:
    """Concatenate per-prompt encodings along the batch; answers are zero-padded to the longest."""
    encoder = EncoderTokens(
        embeds=_cat([p.encoder.embeds for p in parts], device, dtype),  # (B, n, D)
        mask=_cat([p.encoder.mask for p in parts], device, dtype),  # (B, n)
        token_strs=[s for p in parts for s in p.encoder.token_strs],
    )
    # One call encodes every prompt alike (same branches, answers or not), so the parts agree on what they hold.
    llms = [p.llm for p in parts]
    if any(llm is None for llm in llms):
        return Encoding(encoder=encoder)
    answers = None
    if all(llm.answers is not None for llm in llms):
        answers = Answers(
            tokens=_stack_llm_tokens([llm.answers.tokens for llm in llms], device, dtype),  # (B, a, L, D_llm)
            texts=[t for llm in llms for t in llm.answers.texts],
        )
    llm = LLMBranchTokens(
        combined=_stack_llm_tokens([llm.combined for llm in llms], device, dtype),  # (B, n, L, D_llm)
        query=_stack_llm_tokens([llm.query for llm in llms], device, dtype),  # (B, n, L, D_llm)
        instruction_embeds=_cat([llm.instruction_embeds for llm in llms], device, dtype),  # (B, 4, L, D_llm)
        answers=answers,
    )
    return Encoding(encoder=encoder, llm=llm)
