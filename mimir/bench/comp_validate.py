"""Validation of NanoBench-Comp: ground-truth renders must pass, counterfactual renders must fail.

A counterfactual is a render of the same scene that differs in exactly the fact the category checks (ours, per
category): consistent binding, the colours (or, every other spec with two sizes, the sizes) of two objects swapped;
dynamic binding, an object's change reversed; spatial, the opposite relation; motion binding, the motions of two
objects swapped; action binding, the actions of two objects swapped; interactions, the same motions stopped short of
contact; numeracy, one kind's count off by one, or for a negation one copy of the excluded kind added. v1 specs use
v1's counterfactual spec (`mimir.bench.validate.counterfactual`), rendered.

Target (issue 23): ground truth >= 99% and counterfactual rejection >= 95% per category.
"""

import copy
from typing import Any

import numpy as np

from mimir.bench import validate as v1_validate
from mimir.bench.comp import score_any
from mimir.bench.suite import spec_seed
from mimir.world.v2 import vocab
from mimir.world.v2.render import render
from mimir.world.v2.spec import AnySpec, SceneObject, SceneSpec, is_v1


_OPPOSITE = {"left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above"}


def _pair(spec: SceneSpec, differ, k: int) -> tuple[int, int] | None:
    """The k-th (cyclically) pair of objects i < j for which `differ(i, j)` holds."""
    n = len(spec.objects)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if differ(i, j)]
    return pairs[k % len(pairs)] if pairs else None


def counterfactual(spec: AnySpec, k: int = 0) -> tuple[AnySpec, dict[str, Any], str]:
    """(spec to render, render keyword arguments, what differs) for the counterfactual of `spec`; `k` varies the
    choice where there are several (which pair, which attribute)."""
    if is_v1(spec):
        return v1_validate.counterfactual(spec), {}, "v1 counterfactual"
    alt = copy.deepcopy(spec)
    alt.id = spec.id + "-counterfactual"
    objs = alt.objects
    dim = spec.dimension
    if dim == "consistent_attribute_binding":
        sizes = _pair(spec, lambda i, j: objs[i].size != objs[j].size, k)
        if sizes is not None and k % 2:
            i, j = sizes
            objs[i].size, objs[j].size = objs[j].size, objs[i].size
            return alt, {}, f"sizes of objects {i} and {j} swapped"
        i, j = _pair(spec, lambda i, j: True, k)
        objs[i].color, objs[j].color = objs[j].color, objs[i].color
        return alt, {}, f"colours of objects {i} and {j} swapped"
    if dim == "dynamic_attribute_binding":
        changing = [i for i, o in enumerate(objs) if o.color_end or o.size_end]
        i = changing[k % len(changing)]
        o = objs[i]
        if o.color_end:
            o.color, o.color_end = o.color_end, o.color
        if o.size_end:
            o.size, o.size_end = o.size_end, o.size
        return alt, {}, f"object {i}'s change reversed"
    if dim == "spatial_relationships":
        alt.relation = _OPPOSITE[spec.relation]
        return alt, {}, "relation reversed"
    if dim == "motion_binding":
        i, j = _pair(spec, lambda i, j: objs[i].motion != objs[j].motion, k)
        objs[i].motion, objs[j].motion = objs[j].motion, objs[i].motion
        return alt, {}, f"motions of objects {i} and {j} swapped"
    if dim == "action_binding":

        def swappable(i: int, j: int) -> bool:
            a, b = objs[i], objs[j]
            return a.action != b.action and all(
                act != "spin" or o.shape in vocab.SPIN_SHAPES for act, o in ((a.action, b), (b.action, a))
            )

        pair = _pair(spec, swappable, k)
        if pair is None:  # e.g. a spinning star beside a still circle: the circle cannot take the spin
            i = next(i for i, o in enumerate(objs) if o.action)
            objs[i].action = next(a for a in vocab.ACTIONS if a not in (objs[i].action, "spin"))
            return alt, {}, f"object {i}'s action replaced"
        i, j = pair
        objs[i].action, objs[j].action = objs[j].action, objs[i].action
        return alt, {}, f"actions of objects {i} and {j} swapped"
    if dim == "object_interactions":
        return alt, {"contact": False}, "no contact"
    # generative numeracy
    if spec.exclude is not None:
        ex = spec.exclude
        objs.append(SceneObject(shape=ex.shape or objs[0].shape, color=ex.color or "red", size="small"))
        if ex.color is None:  # an excluded shape in a colour of the scene
            objs[-1].color = objs[0].color
        alt.exclude = None
        return alt, {}, "one copy of the excluded kind added"
    i = k % len(objs)
    total = sum(o.count for o in objs)
    up = objs[i].count < vocab.MAX_COUNT and total < vocab.MAX_COPIES
    objs[i].count += 1 if up or objs[i].count == 1 else -1
    if up and total + 1 > 4:
        for o in objs:
            o.size = "small"  # room for the extra copy, as the schema wants
    return alt, {}, f"object {i}'s count {'+1' if up or spec.objects[i].count == 1 else '-1'}"


def render_counterfactual(
    spec: AnySpec, k: int, num_frames: int, height: int, width: int, seed: int | None = None
) -> np.ndarray:
    """The counterfactual video (F, H, W, 3) of `spec`, rendered with `seed` (default: the spec's own)."""
    alt, kwargs, _ = counterfactual(spec, k)
    seed = spec_seed(spec) if seed is None else seed
    if is_v1(spec):
        return render([alt], [seed], num_frames, height, width).numpy()[0]
    return render([alt], [seed], num_frames, height, width, **kwargs).numpy()[0]


def validate_comp(
    specs: list[AnySpec], num_frames: int, height: int, width: int, degraded: bool = True, seed: int = 0
) -> dict[str, Any]:
    """Ground truth, counterfactual (and mild blur + noise) pass rates of one suite's specs."""
    rng = np.random.default_rng(seed)
    gt, cf, deg, what = [], [], [], []
    for k, spec in enumerate(specs):
        video = render([spec], [spec_seed(spec)], num_frames, height, width).numpy()[0]
        gt.append(score_any(video, spec))
        if degraded:
            deg.append(score_any(v1_validate.degrade(video, rng), spec))
        cf.append(score_any(render_counterfactual(spec, k, num_frames, height, width), spec))
        what.append(counterfactual(spec, k)[2])

    def rate(results: list[dict]) -> float | None:
        return float(np.mean([r["pass"] for r in results])) if results else None

    return {
        "n": len(specs),
        "ground_truth": rate(gt),
        "counterfactual_passed": rate(cf),
        "counterfactual_rejected": 1.0 - rate(cf),
        "degraded": rate(deg),
        "failures": {
            "ground_truth": [(r["id"], r["details"]) for r in gt if not r["pass"]],
            "counterfactual_passed": [(r["id"], w, r["details"]) for r, w in zip(cf, what) if r["pass"]],
            "degraded": [r["id"] for r in deg if not r["pass"]],
        },
    }
