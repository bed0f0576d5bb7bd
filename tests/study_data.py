"""What the study tests share: a trial's generation settings and one complete ballot."""

SETTINGS = {
    "negative_prompt": "",
    "num_frames": 9,
    "height": 64,
    "width": 64,
    "num_inference_steps": 4,
    "guidance_scale": 6.0,
}
BALLOT = {"instruction_following": "A", "physics": "tie", "visual_quality": "both_bad"}
