"""attention_summary.py: the Markdown tables of bench/attention_peers.sh from its JSON rows (one
per line: PyTorch's from attention_torch.py, Scalpel's from `scalpel bench attention --json`,
each tagged with its round and implementation).

    python3 bench/peers/attention_summary.py ROWS ROUNDS SAMPLES THREADS
"""
import json
import statistics
import sys

rows = [json.loads(line) for line in open(sys.argv[1])]
rounds, samples, threads = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
PASSES = ("forward", "forward+backward")


def mib(count):
    value = count / 2**20
    return f"{value:.1f} MiB" if value < 10 else f"{value:.0f} MiB"


def name(row):
    if row["impl"] == "torch":
        return f"PyTorch {row['version']} CPU, composed"
    return f"Scalpel {row['implementation']} on {row['backend']}"


print()
print(f"### {threads} thread(s)")
print()
print(f"Milliseconds per call: the median over {rounds} rounds of each round's median of {samples} samples of ≥ 0.2 s;")
print("(ratio) = that time ÷ PyTorch's in the same round, the geometric mean over the rounds. Peak RSS: the")
print("process's peak resident memory over both passes (VmHWM; every implementation and backend of a shape")
print("runs in a process of its own), and (+growth) over its resident memory before the inputs were made.")
print("Device memory: the most OpenCL device memory one call allocated beyond its inputs (Scalpel's")
print("allocation ledger), forward / forward+backward.")
for shape in dict.fromkeys(r["shape"] for r in rows):
    mine = [r for r in rows if r["shape"] == shape]
    torch = {(r["round"], r["pass"]): r["msMedian"] for r in mine if r["impl"] == "torch"}
    print()
    print(f"#### {shape} (batch × heads × length × head size), {threads} thread(s)")
    print()
    print("| implementation | forward ms | forward+backward ms | peak RSS | device memory per call |")
    print("|---|---|---|---|---|")
    for label in dict.fromkeys(name(r) for r in mine):
        group = [r for r in mine if name(r) == label]
        cells = []
        for p in PASSES:
            runs = [r for r in group if r["pass"] == p]
            if not runs:
                cells.append("–")
                continue
            median = statistics.median(r["msMedian"] for r in runs)
            ratios = [r["msMedian"] / torch[(r["round"], p)] for r in runs if (r["round"], p) in torch]
            cells.append(f"{median:.2f} ({statistics.geometric_mean(ratios):.2f}×)" if ratios else f"{median:.2f}")
        peaks = [r["peakRSSBytes"] for r in group if r.get("peakRSSBytes")]
        baselines = {}
        for r in group:
            if r.get("baselineRSSBytes"):
                baselines[r["round"]] = min(baselines.get(r["round"], 1 << 62), r["baselineRSSBytes"])
        growths = [r["peakRSSBytes"] - baselines[r["round"]] for r in group if r.get("peakRSSBytes") and r["round"] in baselines]
        memory = (mib(max(peaks)) + (f" (+{mib(max(growths))})" if growths else "")) if peaks else "–"
        device = []
        for p in PASSES:
            values = [r["devicePeakBytes"] for r in group if r["pass"] == p and r.get("devicePeakBytes") is not None]
            device.append(mib(max(values)) if values else "–")
        print(f"| {label} | {cells[0]} | {cells[1]} | {memory} | {' / '.join(device) if device != ['–', '–'] else '–'} |")
