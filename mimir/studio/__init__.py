"""What the app does, without Gradio: a CogVideoX + Mimir pair with verdicts and files, the token space, the blind
study (trial, watched-both, vote, rate limit) and its results.

`app.py` is layout and event wiring over `Studio` (service.py); `python -m mimir compare` and the benchmarks call
the same layer. Every request enters through one validation (`Studio.settings` for generation settings, the checks
in requests.py for raw API values), so each rule is checked once per request and defined once.

    config.py     the typed configuration and the command-line flags the app and the CLI share
    requests.py   raw API values (JSON numbers, text, choices, trial ids) and the client's identity
    gpu.py        ZeroGPU glue: the module-level functions `@spaces.GPU` wraps
    verdicts.py   the words of a result: seconds, memory, NanoBench verdicts, the note for out-of-world prompts
    study.py      the blind study: new trial, watched-both, vote, rate limit, results
    downloads.py  ASGI middleware that tells the study when a trial's video was sent whole
    service.py    `Studio`: the one object the app, the CLI and the tests call
"""
