"""step_summary.py: the Markdown table of bench/step_peers.sh for one thread count, from its JSON
rows, one per line: PyTorch's (step_torch.py's object, "impl": "torch") and Scalpel's (the
objects of the array `scalpel bench step --json` writes, one per backend measured, each given
"impl": "scalpel"). Rows pair up by model; the ratio is Scalpel's median ÷ PyTorch's.

    python3 bench/peers/step_summary.py ROWS THREADS
"""
import json
import sys


def ms(value):
    return "–" if value is None else f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def count(value):
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


def transfers(direction):
    """'count (blocking)' of one direction of a step's host–device copies."""
    if not direction:
        return "–"
    blocking = direction.get("blocking")
    return count(direction.get("count")) + (f" ({count(blocking)})" if blocking else "")


def main():
    path, threads = sys.argv[1], sys.argv[2]
    rows = [json.loads(line) for line in open(path) if line.strip()]
    torch = {r["model"]: r for r in rows if r["impl"] == "torch"}
    models = list(dict.fromkeys(r["model"] for r in rows))
    versions = sorted({f"{r['version']} ({r.get('blas') or 'BLAS unknown'}, {r['threads']} thread(s))" for r in torch.values()})
    print()
    print(f"### {threads} thread(s)")
    print()
    print("Milliseconds per training step, median [min–max] of the samples; ÷ PyTorch: Scalpel's median")
    print(f"over PyTorch's. PyTorch CPU {', '.join(versions) or '–'}, OMP_WAIT_POLICY=PASSIVE.")
    print("Per step, Scalpel's counts: kernel launches (ops on the CPU-Swift backend), device allocations,")
    print("host→device and device→host copies (blocking ones in parentheses), queue drains.")
    print()
    print("| model | batch | PyTorch ms | Scalpel backend | Scalpel ms | ÷ PyTorch | launches | allocations | H→D | D→H | drains |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model in models:
        peer = torch.get(model)
        mine = [r for r in rows if r["impl"] == "scalpel" and r["model"] == model]
        peer_cell = f"{ms(peer['msMedian'])} [{ms(peer['msMin'])}–{ms(peer['msMax'])}]" if peer else "–"
        if not mine:
            print(f"| {model} | {peer['batchSize'] if peer else '–'} | {peer_cell} | – | – | – | – | – | – | – | – |")
            continue
        for r in mine:
            if peer and peer["batchSize"] != r["batchSize"]:
                raise SystemExit(f"step_summary: {model}: PyTorch's batch {peer['batchSize']} is not Scalpel's {r['batchSize']}")
            step = r.get("perStep") or {}
            ratio = f"{r['msPerStep'] / peer['msMedian']:.2f}×" if peer else "–"
            backend = r["backend"] + (f" · {r['device']}" if r.get("device") else "")
            print(f"| {model} | {r['batchSize']} | {peer_cell} | {backend} | {ms(r['msPerStep'])} [{ms(r['msMin'])}–{ms(r['msMax'])}] | {ratio} "
                  f"| {count(step.get('launches'))} | {count(step.get('allocations'))} | {transfers(step.get('hostToDevice'))} "
                  f"| {transfers(step.get('deviceToHost'))} | {count(step.get('queueDrains'))} |")


if __name__ == "__main__":
    main()
