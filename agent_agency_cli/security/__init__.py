"""Security: the command and secret scanner, secret masking, and terminal-safe text.

* `rules`: the one rule table (commands, secrets, consequential commands).
* `shell`: reading a command as a shell does (quotes, variables, nested programs).
* `scanner`: `scan_text` -> findings.
* `masking`: `mask_secrets` and the per-task `Masker`.
* `terminal`: `strip_controls`, for output shown on a terminal.
"""
