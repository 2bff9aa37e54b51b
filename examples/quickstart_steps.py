"""Python steps used by examples/quickstart.yaml."""

from pathlib import Path


def report(ctx):
    """Combine the three parallel results into report.txt and return a summary."""
    ws = Path(ctx.workspace)
    parts = {}
    for i, name in enumerate(("words", "chars", "sum")):
        parts[name] = (ws / f"{name}.txt").read_text().split()[0]
        ctx.progress((i + 1) / 3, f"read {name}.txt")
    (ws / "report.txt").write_text("\n".join(f"{k}: {v}" for k, v in parts.items()) + "\n")
    ctx.log.info("wrote report.txt")
    return {"words": int(parts["words"]), "chars": int(parts["chars"])}
