"""Appends ballots to a vote file from another process (spawned by tests/test_vote_store.py); imports no torch."""

from mimir.study import votes
from mimir.study.vote_store import VoteStore


class Trial:
    """What `votes.vote_rows` reads of a trial (the real one imports torch, which would slow every spawn)."""

    def __init__(self, trial_id: str, prompt: str) -> None:
        self.trial_id, self.prompt, self.seed, self.preset = trial_id, prompt, 0, "nano"
        self.settings = {"negative_prompt": "", "num_frames": 9, "height": 64, "width": 64}
        self.settings |= {"num_inference_steps": 4, "guidance_scale": 6.0}
        self.model_left, self.model_right = "mimir", "cogvideox"
        self.seconds_left = self.seconds_right = 1.0

    def model_for(self, choice: str) -> str:
        return {"A": self.model_left, "B": self.model_right}.get(choice, choice)


def append_many(path: str, worker: int, n: int) -> None:
    store = VoteStore(path).open()
    ballot = {"instruction_following": "A", "physics": "tie", "visual_quality": "both_bad"}
    for i in range(n):
        trial = Trial(f"w{worker:03d}v{i:04d}", f"worker {worker} vote {i}")
        store.append(votes.vote_rows(trial, ballot, session_id=f"s{worker}", app_version="test"))
