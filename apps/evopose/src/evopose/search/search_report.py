"""`evopose search report DIR`: the leaderboard, the generations, the lineage of the best
network, and three pictures: fitness and validation loss by generation (the paper's Fig. 4),
validation loss against parameters with the Pareto front (Fig. 5), and the best's lineage.

Only reads the ledger, so it works on a search that is still running. No TensorFlow.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import evosearch
from evopose import atomic
from evopose.errors import SearchCommandError
from evopose.search.candidate import CandidateInfo, CandidateMetrics, search_resolution
from evopose.search.workdir import SearchFiles, stored_config

SHOWN_METRICS = ("val_loss", "params", "flops")


@dataclass(frozen=True)
class SearchReport:
    """What a search folder holds: its settings, candidates by status, the best networks, the
    generations, the Pareto front of validation loss against parameters, the best's lineage."""

    root: Path
    settings: dict[str, Any]
    counts: dict[str, int]
    leaderboard: list[evosearch.Candidate]
    generations: list[evosearch.GenerationSummary]
    pareto_front: list[evosearch.Candidate]
    lineage: list[evosearch.Candidate]
    pictures: dict[str, Path] = field(default_factory=dict)

    @property
    def best(self) -> evosearch.Candidate | None:
        """The finished candidate with the lowest fitness."""
        return self.leaderboard[0] if self.leaderboard else None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (non-finite numbers as null)."""
        front = {c.id for c in self.pareto_front}
        return _json_safe(
            {
                "work_dir": str(self.root),
                "settings": self.settings,
                "counts": self.counts,
                "best": None if self.best is None else candidate_dict(self.best),
                "leaderboard": [candidate_dict(c) for c in self.leaderboard],
                "generations": [vars(g) for g in self.generations],
                "pareto_front": [candidate_dict(c) for c in self.pareto_front],
                "pareto_front_ids": sorted(front),
                "lineage": [candidate_dict(c) for c in self.lineage],
                "pictures": {name: str(path) for name, path in self.pictures.items()},
            }
        )

    def text(self) -> str:
        """The report for people: summary, leaderboard, generations, lineage, pictures."""
        s = self.settings
        closed = self.generations[-1].generation if self.generations else None
        counts = ", ".join(f"{n} {status}" for status, n in self.counts.items())
        lines = [
            f"search {self.root}: generation {closed} of {s['generations']} closed; "
            f"{sum(self.counts.values())} candidates ({counts})",
            f"mu={s['parents']}, lambda={s['children']}, e0={s['ancestor_epochs']}, "
            f"e={s['child_epochs']}; fitness (T / {s['cost']}) ** Gamma * val_loss, "
            f"T={s['target']:g}, Gamma={s['gamma']:g}",
            f"candidates at {'x'.join(map(str, s['resolution']))} (the search resolution: "
            "genes built as written); the ancestor "
            + (
                f"inherits from {s['ancestor_weights']}"
                if s.get("ancestor_weights")
                else "starts from scratch"
            ),
        ]
        if self.best is not None:
            lines += ["", f"best: {_summary(self.best)}", f"  genotype {_genotype(self.best)}"]
        lines += ["", "leaderboard:", evosearch.format_leaderboard(self.leaderboard, SHOWN_METRICS)]
        if self.generations:
            lines += ["", "generations:", _generation_table(self.generations)]
        if self.lineage:
            lines += ["", "lineage of the best (ancestor first):"]
            lines += [f"  {_lineage_line(c)}" for c in self.lineage]
        if self.pictures:
            lines += ["", "pictures:"] + [f"  {path}" for path in self.pictures.values()]
        return "\n".join(lines)


def build_report(work_dir: str | Path, *, top: int = 10) -> SearchReport:
    """Reads a search folder's ledger into a `SearchReport` (without pictures)."""
    files = SearchFiles(Path(work_dir))
    config = stored_config(files)
    if not files.ledger.is_file():
        raise SearchCommandError(
            f"{files.root} has no ledger yet; run `evopose search` on it first"
        )
    with evosearch.Ledger(files.ledger, create=False) as ledger:
        ranked = evosearch.leaderboard(ledger)
        lineage = evosearch.lineage(ledger, ranked[0].id) if ranked else []
        return SearchReport(
            root=files.root,
            settings={
                **vars(config.search),
                "resolution": list(search_resolution(config)),
            },
            counts=dict(ledger.counts()),
            leaderboard=ranked[:top],
            generations=evosearch.history(ledger),
            pareto_front=evosearch.pareto_front(ledger),
            lineage=lineage,
            pictures={},
        )


def write_report(work_dir: str | Path, *, top: int = 10) -> SearchReport:
    """Writes the pictures, `leaderboard.txt` and `report.json` into `DIR/report/`; returns
    the report. A SearchCommandError when no candidate has finished yet."""
    files = SearchFiles(Path(work_dir))
    report = build_report(files.root, top=top)
    if report.best is None:
        raise SearchCommandError(
            f"{files.root}: no candidate has finished training yet; report again later"
        )
    with evosearch.Ledger(files.ledger, create=False) as ledger:
        candidates = ledger.candidates(status="done")
    pictures = {
        "convergence": files.convergence_plot,
        "pareto": files.pareto_plot,
        "lineage": files.lineage_plot,
    }
    _plot_convergence(report, candidates, pictures["convergence"])
    _plot_pareto(report, candidates, pictures["pareto"])
    _plot_lineage(report, pictures["lineage"])
    report = SearchReport(**{**vars(report), "pictures": pictures})
    atomic.write_text(files.leaderboard, report.text() + "\n")
    atomic.write_text(files.report_json, json.dumps(report.to_dict(), indent=1) + "\n")
    return report


def candidate_dict(candidate: evosearch.Candidate) -> dict[str, Any]:
    """One candidate as plain data: where it came from, its genotype, metrics and transfer."""
    metrics, info = CandidateMetrics.of(candidate), CandidateInfo.of(candidate)
    return {
        "id": candidate.id,
        "generation": candidate.generation,
        "parent_id": candidate.parent_id,
        "status": candidate.status,
        "fitness": candidate.fitness,
        "genotype": candidate.genotype,
        "genotype_string": info.genotype,
        "mutation": info.mutation,
        "inherited_fraction": metrics.inherited_fraction,
        "metrics": metrics.to_json(),
        "model": candidate.artifact,
        "error": candidate.error,
    }


# --- text -----------------------------------------------------------------------------------


def _summary(c: evosearch.Candidate) -> str:
    m = CandidateMetrics.of(c)
    return (
        f"candidate {c.id} (generation {c.generation}): fitness {c.fitness:.6g}, "
        f"val loss {m.val_loss:.6g}, {m.params / 1e6:.3f}M "
        f"params, {m.flops / 1e6:.1f}M multiply-adds; model {c.artifact}"
    )


def _genotype(c: evosearch.Candidate) -> str:
    return CandidateInfo.of(c).genotype


def _lineage_line(c: evosearch.Candidate) -> str:
    info = CandidateInfo.of(c)
    how = "ancestor" if c.parent_id is None else f"from {c.parent_id}: {info.mutation}"
    inherited = CandidateMetrics.of(c).inherited_fraction
    if inherited is not None:
        how += f", inherited {inherited:.1%}"
        if c.parent_id is None and info.inherited_from:
            how += f" from {Path(info.inherited_from).name}"
    fitness = "-" if c.fitness is None else f"{c.fitness:.6g}"
    return f"cand {c.id} (gen {c.generation}) fitness {fitness}  {how}"


def _generation_table(generations: list[evosearch.GenerationSummary]) -> str:
    header = ("gen", "evaluated", "failed", "best", "fitness", "its val_loss", "lowest val_loss")
    rows = [
        (
            str(g.generation),
            str(g.evaluated),
            str(g.failed),
            str(g.best_id),
            f"{g.best_fitness:.6g}",
            _number(g.best_loss),
            _number(g.lowest_loss),
        )
        for g in generations
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
        for row in (header, *rows)
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# --- pictures ---------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110)


def _save(figure: Any, path: Path) -> None:
    figure.tight_layout()
    with atomic.atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png")


def _legend_title(settings: dict[str, Any]) -> str:
    return f"Γ={settings['gamma']:g}, λ={settings['children']}, μ={settings['parents']}"


def _plot_convergence(
    report: SearchReport, candidates: list[evosearch.Candidate], path: Path
) -> None:
    """Fig. 4: the best fitness by generation (solid), its network's validation loss (dashed),
    every finished candidate's fitness (dots)."""
    figure = _figure(7, 4.8)
    axes = figure.add_subplot()
    axes.scatter(
        [c.generation for c in candidates],
        [c.fitness for c in candidates],
        s=12,
        color="0.7",
        label="every candidate's fitness",
        zorder=1,
    )
    gens = [g.generation for g in report.generations]
    axes.plot(
        gens,
        [g.best_fitness for g in report.generations],
        "-o",
        color="tab:blue",
        label="best fitness J",
        zorder=3,
    )
    axes.plot(
        gens,
        [math.nan if g.best_loss is None else g.best_loss for g in report.generations],
        "--s",
        color="tab:orange",
        markersize=4,
        label="validation loss of the best-fitness network",
        zorder=2,
    )
    axes.set_xlabel("generation")
    axes.set_ylabel("fitness J = (T / cost)^Γ · val loss")
    axes.set_xticks(range(0, max([*gens, 0]) + 1))
    axes.set_title("Convergence of the search (cf. paper Fig. 4)")
    axes.grid(True, alpha=0.3)
    axes.legend(
        title=_legend_title(report.settings),
        fontsize=8,
        title_fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=3,
    )
    _save(figure, path)


def _plot_pareto(report: SearchReport, candidates: list[evosearch.Candidate], path: Path) -> None:
    """Fig. 5: validation loss against parameters of every finished candidate, coloured by
    generation, with the Pareto front and the best-fitness network marked."""
    figure = _figure(7, 4.6)
    axes = figure.add_subplot()
    measured = [CandidateMetrics.of(c) for c in candidates]
    drawn = axes.scatter(
        [m.params / 1e6 for m in measured],
        [m.val_loss for m in measured],
        c=[c.generation for c in candidates],
        cmap="viridis",
        s=22,
        zorder=2,
    )
    from matplotlib.ticker import MaxNLocator

    colorbar = figure.colorbar(drawn, ax=axes, ticks=MaxNLocator(integer=True))
    colorbar.set_label("generation")
    front = [CandidateMetrics.of(c) for c in report.pareto_front]
    axes.step(
        [m.params / 1e6 for m in front],
        [m.val_loss for m in front],
        where="post",
        color="tab:red",
        linewidth=1.5,
        label=f"Pareto front ({len(front)} networks)",
        zorder=3,
    )
    best = report.best
    if best is not None:
        best_metrics = CandidateMetrics.of(best)
        axes.scatter(
            [best_metrics.params / 1e6],
            [best_metrics.val_loss],
            marker="*",
            s=260,
            facecolor="gold",
            edgecolor="black",
            label=f"best fitness (candidate {best.id})",
            zorder=4,
        )
    ancestor = next((c for c in candidates if c.parent_id is None), None)
    if ancestor is not None:
        ancestor_metrics = CandidateMetrics.of(ancestor)
        axes.scatter(
            [ancestor_metrics.params / 1e6],
            [ancestor_metrics.val_loss],
            marker="s",
            s=70,
            facecolor="none",
            edgecolor="black",
            label="ancestor",
            zorder=4,
        )
    axes.set_xlabel("parameters (millions)")
    axes.set_ylabel("validation loss (best epoch)")
    axes.set_title(f"Every sampled network: {len(candidates)} (cf. paper Fig. 5)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    _save(figure, path)


def _plot_lineage(report: SearchReport, path: Path) -> None:
    """Writes `lineage_figure(report)` as a PNG."""
    _save(lineage_figure(report), path)


_TITLE_SIZE = 9


def _wrap_at(text: str, separator: str, width: int) -> str:
    """`text` in lines of at most `width` characters where it can, broken after `separator`."""
    parts = text.split(separator)
    lines, line = [], ""
    for index, part in enumerate(parts):
        piece = part + (separator if index < len(parts) - 1 else "")
        if line and len(line) + len(piece) > width:
            lines.append(line)
            line = ""
        line += piece
    return "\n".join([*lines, line])


def lineage_figure(report: SearchReport) -> Any:
    """The best network's ancestry (a matplotlib `Figure`): fitness and validation loss at each
    step, each step labelled with its mutation and the share of parameters it inherited; the
    title (the best's genotype wrapped to the figure's width) inside the figure."""
    chain = report.lineage
    width = max(7.0, 1.9 * len(chain))
    figure = _figure(width, 4.8)
    axes = figure.add_subplot()
    steps = list(range(len(chain)))
    measured = [CandidateMetrics.of(c) for c in chain]
    axes.plot(steps, [c.fitness for c in chain], "-o", color="tab:blue", label="fitness J")
    axes.plot(
        steps,
        [m.val_loss for m in measured],
        "--s",
        color="tab:orange",
        markersize=4,
        label="validation loss",
    )
    for step, c, m in zip(steps, chain, measured, strict=True):
        if c.parent_id is None:
            what = "ancestor"
        else:
            inherited = m.inherited_fraction
            share = "" if inherited is None else f"\ninherited {inherited:.0%}"
            what = (CandidateInfo.of(c).mutation or "").replace("; ", "\n") + share
        params = m.params / 1e6
        top = max(c.fitness, m.val_loss)
        axes.annotate(
            f"cand {c.id}, gen {c.generation}\n{params:.2f}M params\n{what}",
            (step, top),
            textcoords="offset points",
            xytext=(0, 14),
            ha="center",
            va="bottom",
            fontsize=7,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "alpha": 0.85},
        )
    axes.set_xticks(steps, [f"gen {c.generation}" for c in chain])
    axes.set_xlim(-0.6, len(chain) - 0.4)
    low = min(min(c.fitness for c in chain), min(m.val_loss for m in measured))
    high = max(max(c.fitness for c in chain), max(m.val_loss for m in measured))
    margin = (high - low) or abs(high) * 0.1 or 1.0
    axes.set_ylim(low - 0.15 * margin, high + 1.2 * margin)
    axes.set_ylabel("fitness / validation loss")
    best = chain[-1] if chain else None
    if best is not None:
        # About 0.6 em per character; the genotype is broken between its modules to fit.
        fits = int(0.85 * width * 72 / (0.6 * _TITLE_SIZE))
        genotype = _wrap_at(_genotype(best), "-", fits)
        axes.set_title(
            f"Lineage of the best network (candidate {best.id})\n{genotype}", fontsize=_TITLE_SIZE
        )
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    return figure
