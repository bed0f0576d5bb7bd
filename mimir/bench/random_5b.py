"""CogVideoX-5B, T5-v1.1-XXL and Phi-3.5-mini at their published shapes with random weights, and the one writer of
the folders the `cogvideox-5b` preset loads (`base/`, `llm/`, `mimir/`).

The GPU machine cannot download, so the full-scale benchmarks (benchmarks/full_scale.py, train_full_scale.py) build
the models from the published configs written out below; the tests build tiny ones (tests/tiny.py). Only memory and
speed are measured with them, never quality. Tokenizers are word-level ones built in code over the texts a run
will see (real ones need a download): T5 still pads to its 226 positions, the LLM sees fewer tokens than Phi's BPE
would give.
"""

import gc
import json
import shutil
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import diffusers
import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import Phi3Config, Phi3ForCausalLM, PreTrainedTokenizerFast, T5Config, T5EncoderModel

from mimir.text_encoding import LLMBranchConfig


# ---- published configs (config.json of THUDM/CogVideoX-5b and microsoft/Phi-3.5-mini-instruct) --------------------

COGVIDEOX_5B_TRANSFORMER = dict(
    activation_fn="gelu-approximate",
    attention_bias=True,
    attention_head_dim=64,
    dropout=0.0,
    flip_sin_to_cos=True,
    freq_shift=0,
    in_channels=16,
    max_text_seq_length=226,
    norm_elementwise_affine=True,
    norm_eps=1e-5,
    num_attention_heads=48,  # 48 x 64 = 3072 wide (the 2B: 30 heads, diffusers' default)
    num_layers=42,  # (the 2B: 30)
    out_channels=16,
    patch_size=2,
    sample_frames=49,
    sample_height=60,
    sample_width=90,
    spatial_interpolation_scale=1.875,
    temporal_compression_ratio=4,
    temporal_interpolation_scale=1.0,
    text_embed_dim=4096,
    time_embed_dim=512,
    timestep_activation_fn="silu",
    use_rotary_positional_embeddings=True,  # (the 2B: sincos positions)
)
COGVIDEOX_5B_VAE = dict(
    act_fn="silu",
    block_out_channels=(128, 256, 256, 512),
    down_block_types=("CogVideoXDownBlock3D",) * 4,
    up_block_types=("CogVideoXUpBlock3D",) * 4,
    force_upcast=True,
    in_channels=3,
    out_channels=3,
    latent_channels=16,
    layers_per_block=3,
    norm_eps=1e-6,
    norm_num_groups=32,
    sample_height=480,
    sample_width=720,
    scaling_factor=0.7,  # (the 2B: 1.15258426, diffusers' default)
    temporal_compression_ratio=4,
    use_quant_conv=False,
    use_post_quant_conv=False,
)
T5_V1_1_XXL = dict(  # the encoder of google/t5-v1_1-xxl, as CogVideoX ships it in text_encoder/
    d_ff=10240,
    d_kv=64,
    d_model=4096,
    dense_act_fn="gelu_new",
    feed_forward_proj="gated-gelu",
    is_gated_act=True,
    layer_norm_epsilon=1e-6,
    num_heads=64,
    num_layers=24,
    relative_attention_max_distance=128,
    relative_attention_num_buckets=32,
    tie_word_embeddings=False,
    vocab_size=32128,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
)
PHI_35_MINI_CONFIG = dict(
    attention_bias=False,
    hidden_act="silu",
    hidden_size=3072,
    intermediate_size=8192,
    max_position_embeddings=131072,
    original_max_position_embeddings=4096,
    num_attention_heads=32,
    num_hidden_layers=32,
    num_key_value_heads=32,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
    sliding_window=262144,
    tie_word_embeddings=False,
    vocab_size=32064,
    bos_token_id=1,
    eos_token_id=32000,
    pad_token_id=32000,
)
FULL = dict(
    transformer=COGVIDEOX_5B_TRANSFORMER,
    vae=COGVIDEOX_5B_VAE,
    text_encoder=T5_V1_1_XXL,
    llm=PHI_35_MINI_CONFIG,
    call=dict(num_frames=49, height=480, width=720),
)
# Tiny shapes (a smoke test of benchmarks/full_scale.py on the CPU): same classes and code path.
TINY = dict(
    transformer=dict(
        COGVIDEOX_5B_TRANSFORMER,
        num_attention_heads=2,
        attention_head_dim=16,
        num_layers=2,  # the step cache of --fast needs a first block and one more
        time_embed_dim=8,
        text_embed_dim=32,
        sample_height=2,
        sample_width=2,
        sample_frames=9,
        patch_size=1,
        in_channels=4,
        out_channels=4,
    ),
    vae=dict(COGVIDEOX_5B_VAE, block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1,
             norm_num_groups=2),
    text_encoder=dict(T5_V1_1_XXL, d_model=32, d_kv=8, d_ff=64, num_heads=4, num_layers=2),
    llm=dict(PHI_35_MINI_CONFIG, hidden_size=48, intermediate_size=96, num_attention_heads=4, num_key_value_heads=4,
             num_hidden_layers=2),
    call=dict(num_frames=9, height=16, width=16),
)  # fmt: skip

# The order in which `random_modules` draws them from one seed (a run's random weights depend on it).
COMPONENTS = ("transformer", "vae", "text_encoder", "llm")
BUILDERS = {
    "transformer": lambda config: CogVideoXTransformer3DModel(**config),
    "vae": lambda config: AutoencoderKLCogVideoX(**config),
    "text_encoder": lambda config: T5EncoderModel(T5Config(**config)),
    "llm": lambda config: Phi3ForCausalLM(Phi3Config(**config)),
}

# ---- tokenizers ---------------------------------------------------------------------------------------------------

# Published special tokens (T5: <pad> 0, </s> 1, <unk> 2; Phi-3.5's chat markers) and Phi-3.5's chat template.
T5_SPECIALS = ("<pad>", "</s>", "<unk>")
PHI_SPECIALS = ("<unk>", "<s>", "</s>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
PHI_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)


def word_tokenizer(
    texts: list[str], specials: tuple[str, ...], unk_token: str = "<unk>", **kwargs
) -> PreTrainedTokenizerFast:
    """A word-level fast tokenizer: `specials` first (ids 0, 1, ...), then the sorted words of `texts`."""
    pre = pre_tokenizers.Whitespace()
    words = sorted({w for text in texts for w, _ in pre.pre_tokenize_str(text)})
    vocab = {token: i for i, token in enumerate(list(specials) + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk_token))
    tok.pre_tokenizer = pre
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=unk_token, **kwargs)


def t5_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    tokenizer = word_tokenizer(texts, T5_SPECIALS, pad_token="<pad>", eos_token="</s>")
    # T5 appends </s> to every text (add_special_tokens=True), as CogVideoX's tokenizer does.
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", T5_SPECIALS.index("</s>"))]
    )
    return tokenizer


def phi_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    tokenizer = word_tokenizer(texts, PHI_SPECIALS, pad_token="<|endoftext|>", eos_token="<|endoftext|>")
    tokenizer.chat_template = PHI_CHAT_TEMPLATE
    return tokenizer


# ---- models -------------------------------------------------------------------------------------------------------


def random_modules(
    shapes: dict, device: torch.device | str, dtypes: dict[str, torch.dtype] | None = None
) -> Iterator[tuple[str, torch.nn.Module]]:
    """(name, module) for each of `COMPONENTS` in turn, random weights from `torch.manual_seed(0)`, built on `device`
    (random init of billions of weights is fast on a GPU), cast to its dtype (`dtypes`, bf16 by default), in eval
    mode. A generator: the caller may save and free each before the next is built."""
    dtypes = dtypes or {}
    torch.manual_seed(0)
    for name in COMPONENTS:
        with torch.device(device):
            module = BUILDERS[name](shapes[name])
        yield name, module.to(dtypes.get(name, torch.bfloat16)).eval()


def parameter_count(shapes: dict) -> int:
    """Parameters of the four models at `shapes` (counted on the meta device: nothing is allocated)."""
    with torch.device("meta"):
        return sum(sum(p.numel() for p in BUILDERS[name](shapes[name]).parameters()) for name in COMPONENTS)


def free_disk_check(root: Path, shapes: dict) -> None:
    """Refuse to start when `root`'s disk cannot hold the bf16 folders (estimated from the parameter counts)."""
    need = 2 * parameter_count(shapes) * 1.02  # bf16 + file overhead
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if free < need:
        raise SystemExit(
            f"--root {str(root)!r} has {free / 1e9:.1f} GB free; the bf16 folders need {need / 1e9:.1f} GB"
        )


# ---- folders ------------------------------------------------------------------------------------------------------


def _library(obj) -> str:
    return type(obj).__module__.split(".")[0]


def free_memory(device: torch.device | str) -> None:
    """Collect garbage, and give cached CUDA blocks back on a GPU (between big modules or models)."""
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def save_5b_folders(
    root: Path,
    modules: Iterable[tuple[str, torch.nn.Module]],
    tokenizer,
    scheduler,
    llm_tokenizer,
    device: torch.device | str = "cpu",
) -> dict[str, Path]:
    """Write the folders the `cogvideox-5b` preset loads under `root`, and return them as `load_pipelines` takes
    them: `base/` (a diffusers CogVideoX pipeline: `tokenizer`, `scheduler` and the transformer, vae and
    text_encoder of `modules`), `llm/` (`modules`' llm + `llm_tokenizer`) and `mimir/` (the DiT, a link to the
    base's: Mimir's DiT has CogVideoX's shapes; `modules`' token_fuser; the LLM-branch settings).

    `modules` is consumed one at a time, each saved (moved to the CPU first) and freed before the next is built, so
    the 5B's ~29 GB of bf16 weights never sit in memory together; `device` is where they were built (freed after
    each). A `root` whose folders are complete (the `COMPLETE` marker) is returned as it is."""
    root = Path(root)
    base, llm_dir, mimir_dir = root / "base", root / "llm", root / "mimir"
    paths = {"base_model": base, "llm": llm_dir, "mimir_weights": mimir_dir}
    if (root / "COMPLETE").is_file():
        return paths
    # model_index.json, as CogVideoXPipeline.save_pretrained writes it: [library, class] per component.
    index = {"_class_name": "CogVideoXPipeline", "_diffusers_version": diffusers.__version__}
    for name, obj in (("scheduler", scheduler), ("tokenizer", tokenizer)):
        index[name] = [_library(obj), type(obj).__name__]
    folders = {"llm": llm_dir, "token_fuser": mimir_dir / "token_fuser"}
    start = time.perf_counter()
    for name, module in modules:  # (the next module is built when the loop asks for it)
        module.to("cpu").save_pretrained(folders.get(name, base / name), max_shard_size="5GB")
        if name not in folders:
            index[name] = [_library(module), type(module).__name__]
        del module
        free_memory(device)
        print(f"built and saved {name} in {time.perf_counter() - start:.0f} s", flush=True)
        start = time.perf_counter()
    tokenizer.save_pretrained(base / "tokenizer")
    scheduler.save_pretrained(base / "scheduler")
    (base / "model_index.json").write_text(json.dumps(dict(sorted(index.items())), indent=1))
    llm_tokenizer.save_pretrained(llm_dir)
    mimir_dir.mkdir(parents=True, exist_ok=True)
    # a link saves the 5B's 11 GB of disk; from_pretrained still loads a second copy
    if not (mimir_dir / "transformer").exists():
        (mimir_dir / "transformer").symlink_to((base / "transformer").resolve(), target_is_directory=True)
    LLMBranchConfig.from_file().save(mimir_dir)
    (root / "COMPLETE").write_text(datetime.now(timezone.utc).isoformat())
    return paths
