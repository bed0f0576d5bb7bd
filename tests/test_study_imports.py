"""The study modules import without a circle and without torch where they need no model, and the model pair has one
home (`mimir.pair`) that every module and benchmark imports (fast, no models)."""

import ast
import re
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).parents[1]
STUDY = ROOT / "mimir" / "study"


def study_imports(folder: Path) -> dict[str, set[str]]:
    """Module -> the mimir.study modules it imports, anywhere in the file (under TYPE_CHECKING and in functions too:
    a circle hidden behind TYPE_CHECKING is still a circle for the reader and for the next run-time import)."""
    graph = {}
    for path in folder.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1 and node.module:
                    found.add(node.module.split(".")[0])
                elif node.level == 1:
                    found |= {alias.name for alias in node.names}
                elif (node.module or "").startswith("mimir.study."):
                    found.add(node.module.split(".")[2])
                elif node.module == "mimir.study":
                    found |= {alias.name for alias in node.names}
        graph[path.stem] = found & {p.stem for p in folder.glob("*.py")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        for nxt in sorted(graph.get(node, ())):
            cycle = visit(nxt, path + [node])
            if cycle:
                return cycle
        return None

    return next((c for c in (visit(n, []) for n in sorted(graph)) if c), None)


def test_study_modules_import_without_a_circle():
    assert find_cycle(study_imports(STUDY)) is None


def test_the_vote_and_trial_files_load_without_torch():
    code = (
        "import sys\nimport mimir.study.trial_store, mimir.study.vote_store, mimir.study.votes, mimir.study.trial\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr


# The pair written out as a literal, in either quote style, as a tuple, list or Literal.
PAIR = re.compile(r"""["']cogvideox["'],\s*["']mimir["']""")


def test_the_model_pair_has_one_home():
    """Only mimir/pair.py spells the pair; everything else imports MODELS (app.py: the lead's; tests may spell it)."""
    files = [*ROOT.joinpath("mimir").rglob("*.py"), *ROOT.joinpath("benchmarks").rglob("*.py")]
    spelled = sorted(str(f.relative_to(ROOT)) for f in files if PAIR.search(f.read_text()))
    assert spelled == ["mimir/pair.py"]
