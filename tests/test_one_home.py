"""One home per shared helper (STYLE.md rules 15 and 16): benchmarks/ is thin scripts over the package, so no script
edits `sys.path` or imports another script, and what several scripts need (the machine record, the RSS sampler, the
random-weight 5B builder, the claim rules) is defined once, in `mimir/`. The training loop's rules (caption dropout,
time limit, when to log and checkpoint) are written once, in `mimir/train/loop.py`.

Read from the source with `ast` (nothing is imported), so a second definition fails here whatever its module."""

import ast
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))
SOURCES = sorted([*(REPO / "mimir").rglob("*.py"), *SCRIPTS, *(REPO / "tests").glob("*.py"), REPO / "app.py"])


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imported_modules(tree: ast.Module) -> set[str]:
    """Top-level names of every module `tree` imports (`import a.b` and `from a.b import c` give 'a')."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _definitions(name: str) -> list[str]:
    """Where a function or class (at any depth) or a module-level constant called `name` is defined, as
    'path:line'."""
    found = []
    for path in SOURCES:
        tree = _tree(path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
        for node in tree.body:
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            else:
                continue
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_the_benchmarks_exist():
    assert len(SCRIPTS) >= 10 and (BENCHMARKS / "full_scale.py") in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_script_edits_sys_path_or_imports_another(script):
    text = script.read_text()
    assert "sys.path" not in text, f"{script.name} edits sys.path: the package is installed (pip install -e .)"
    tree = _tree(script)
    others = {p.stem for p in SCRIPTS} | {"benchmarks"}
    imported = _imported_modules(tree) & others
    assert not imported, f"{script.name} imports the script(s) {sorted(imported)}: move what they share into mimir/"
    for forbidden in ("spec_from_file_location", "runpy", "SourceFileLoader"):
        assert forbidden not in text, f"{script.name} loads a script by path ({forbidden})"


def test_no_test_imports_a_script_except_through_the_loader():
    """Tests reach a script through `tests/scripts.py`'s `load_benchmark`, never through sys.path."""
    scripts = {p.stem for p in SCRIPTS}
    for path in sorted((REPO / "tests").glob("*.py")):
        if path.name == Path(__file__).name:
            continue
        text = path.read_text()
        assert "syspath_prepend" not in text and "sys.path.insert" not in text, path.name
        assert not _imported_modules(_tree(path)) & scripts, path.name


@pytest.mark.parametrize(
    "name, home",
    [
        # the machine record and its parts
        ("environment", "mimir/bench/environment.py"),
        ("cpu_model", "mimir/bench/environment.py"),
        ("package_version", "mimir/bench/environment.py"),
        ("machine", None),  # the benchmarks' own machine records are gone
        ("versions", None),
        # the RSS sampler
        ("PeakRSS", "mimir/memory.py"),
        ("PeakMemory", "mimir/memory.py"),
        ("RSS_SAMPLE_SECONDS", "mimir/memory.py"),
        # random-weight 5B models and their folders
        ("COGVIDEOX_5B_TRANSFORMER", "mimir/bench/random_5b.py"),
        ("COGVIDEOX_5B_VAE", "mimir/bench/random_5b.py"),
        ("T5_V1_1_XXL", "mimir/bench/random_5b.py"),
        ("PHI_35_MINI_CONFIG", "mimir/bench/random_5b.py"),  # (presets.PHI_35_MINI is its Hub id)
        ("random_modules", "mimir/bench/random_5b.py"),
        ("save_5b_folders", "mimir/bench/random_5b.py"),
        ("word_tokenizer", "mimir/bench/random_5b.py"),
        ("free_disk_check", "mimir/bench/random_5b.py"),
        # the claim rules, beside mimir/bench/paired.py
        ("judge", "mimir/bench/claims.py"),
        ("claim_verdict", "mimir/bench/claims.py"),
        ("RULES", "mimir/bench/claims.py"),
        ("ALPHA", "mimir/bench/claims.py"),
        ("Target", "mimir/bench/claims.py"),
        ("ClaimTest", "mimir/bench/claims.py"),
        # prompts no cache has seen, for timings
        ("fresh_prompts", "mimir/world/sampler.py"),
        # the training loop's rules
        ("TimeLimit", "mimir/train/loop.py"),
        ("dropout_rows", "mimir/train/loop.py"),
        ("with_empty_rows", "mimir/train/loop.py"),
        ("step_due", "mimir/train/loop.py"),
    ],
)
def test_each_shared_helper_has_one_definition(name, home):
    found = _definitions(name)
    expected = [] if home is None else [home]
    assert [f.rsplit(":", 1)[0] for f in found] == expected, f"{name}: defined at {found}, its one home is {home}"


def test_rss_and_machine_facts_are_read_in_their_homes_only():
    """`memory_info().rss` (an RSS sample) only in mimir/memory.py; the platform and the Python version only in the
    machine record."""
    for path in SOURCES:
        text = path.read_text()
        relative = str(path.relative_to(REPO))
        if path.name == Path(__file__).name:
            continue
        if relative != "mimir/memory.py":
            assert ".memory_info().rss" not in text, f"{relative} samples RSS itself: use mimir.memory.PeakRSS"
        if relative != "mimir/bench/environment.py":
            for call in ("platform.platform()", "platform.python_version()"):
                assert call not in text, f"{relative} writes machine info itself ({call}): use environment()"


def test_the_trainers_share_the_loop_rules():
    """Both trainers read the time limit, caption dropout and the checkpoint interval through mimir/train/loop.py."""
    for name in ("diffusion.py", "finetune.py"):
        text = (REPO / "mimir" / "train" / name).read_text()
        for rule in (
            "60 * args.time_limit_minutes",
            "< args.caption_dropout",
            "% args.checkpoint_every",
            "% args.log_every",
        ):
            assert rule not in text, f"mimir/train/{name} writes its own {rule!r}: use mimir/train/loop.py"
