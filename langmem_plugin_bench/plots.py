"""PNG figures written next to the benchmark JSON (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_recall_curves(report: dict, path: Path, ks: tuple[int, ...]) -> Path:
    """One panel per question category: Recall@k (any evidence) of every system."""
    plt = _pyplot()
    categories = ["overall", *sorted({c for r in report["systems"].values() for c in r["by_category"]})]
    figure, axes = plt.subplots(1, len(categories), figsize=(4 * len(categories), 3.6), sharey=True)
    for axis, category in zip(axes, categories, strict=True):
        for name, result in report["systems"].items():
            scores = result["overall"] if category == "overall" else result["by_category"].get(category)
            if scores:
                axis.plot(ks, [scores[f"recall_any@{k}"] for k in ks], marker="o", label=name)
        axis.set_title(category)
        axis.set_xlabel("k")
        axis.set_xticks(ks)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("Recall@k (any evidence)")
    axes[-1].legend(fontsize=7, loc="lower right")
    figure.suptitle("LoCoMo retrieval")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_latency_vs_size(results: list[dict], path: Path) -> Path:
    """Search p50 / p95 against the number of memories, one line per dense-search mode."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for mode in sorted({r["dense_search"] for r in results}):
        rows = sorted((r for r in results if r["dense_search"] == mode), key=lambda r: r["memories"])
        sizes = [r["memories"] for r in rows]
        axis.plot(sizes, [r["search_p50_ms"] for r in rows], marker="o", label=f"{mode} p50")
        axis.plot(sizes, [r["search_p95_ms"] for r in rows], marker="s", linestyle="--", label=f"{mode} p95")
    axis.set_xscale("log")
    axis.set_xlabel("memories in the scope")
    axis.set_ylabel("hybrid search latency (ms, excluding query embedding)")
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_peers(results: list[dict], path: Path) -> Path:
    """Per shape: inserts/s and search p50 / p95 of every measured system (log scale bars)."""
    plt = _pyplot()
    measured = [r for r in results if "search_p50_ms" in r]
    shapes = sorted({r["shape"] for r in measured}) or ["none measured"]
    figure, axes = plt.subplots(len(shapes), 2, figsize=(11, 3.6 * len(shapes)), squeeze=False)
    for row, shape in zip(axes, shapes, strict=True):
        rows = [r for r in measured if r["shape"] == shape]
        names = [r["system"] for r in rows]
        positions = list(range(len(rows)))
        colours = ["tab:red" if name == "langmem" else "tab:green" for name in names]
        row[0].bar(positions, [r["inserts_per_second"] for r in rows], color=colours)
        row[0].set_ylabel("inserts/s (batched)")
        row[1].bar([p - 0.2 for p in positions], [r["search_p50_ms"] for r in rows], width=0.4, label="p50")
        row[1].bar([p + 0.2 for p in positions], [r["search_p95_ms"] for r in rows], width=0.4, label="p95")
        row[1].set_ylabel("filtered top-10 search (ms)")
        row[1].legend()
        for axis in row:
            axis.set_yscale("log")
            axis.set_xticks(positions, names, rotation=20, ha="right", fontsize=8)
            axis.set_title(
                f"{shape}: {rows[0]['memories']:,} memories, {rows[0]['users']:,} user(s)" if rows else shape
            )
            axis.grid(alpha=0.3, axis="y", which="both")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
