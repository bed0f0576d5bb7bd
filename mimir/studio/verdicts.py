"""The words shown under each video: seconds, peak memory and, in the nano preset, the NanoBench verdicts.

Plain words, not emoji (headless browsers often lack an emoji font). The CLI's JSON carries the same facts under
the same names (`peak_memory_kind`, `verdicts`).
"""

from __future__ import annotations

from typing import Any

from mimir.generation import GenerationResult


def memory_words(res: GenerationResult) -> str:
    """The peak memory of one generation, saying what was measured. On the CPU it is the whole app process's resident
    set (both models, the text encoders, the server), so two columns often show the same figure."""
    mib = f"{res.peak_memory_bytes / 2**20:.0f} MiB"
    if res.peak_memory_kind == "process RSS":
        return f"peak memory {mib} (process RSS during this generation: the whole app process, not this model alone)"
    return f"peak memory {mib} ({res.peak_memory_kind} during this generation)"


def check_name(check: str) -> str:
    """`object_class` -> "object class": check names as words."""
    return check.replace("_", " ")


def verdict_words(verdicts: dict[str, Any]) -> str:
    """The verdict on the whole scene first (it passes only when every check passes), then the check NanoBench counts
    for this prompt (its dimension's), then each check: the two can differ, so both are named."""
    checks = verdicts["checks"]
    passed = sum(bool(v) for v in checks.values())
    overall = "pass" if passed == len(checks) else "FAIL"
    each = " · ".join(f"{check_name(name)} {'pass' if ok else 'FAIL'}" for name, ok in checks.items())
    dim = verdicts["dimension"]
    counted = "pass" if checks[dim] else "FAIL"
    return (
        f"Whole scene: **{overall}**, {passed} of {len(checks)} checks pass. NanoBench counts this prompt by its "
        f"{check_name(dim)} check alone: {counted}.  \n{each}"
    )


def result_markdown(
    label: str, res: GenerationResult, verdicts: dict[str, Any] | None, nano: bool = True, unplaced: str = ""
) -> str:
    """Seconds, this generation's peak memory and (nano) the verdicts of one result. `unplaced`: the note shown when
    the prompt lies outside the nano world (no verdicts then)."""
    lines = [f"**{label}** · {res.seconds:.1f} s · {memory_words(res)}"]
    if nano:
        lines.append(unplaced if verdicts is None else verdict_words(verdicts))
    return "\n\n".join(line for line in lines if line)
