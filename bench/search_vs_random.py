"""The search against random sampling of the same space, at equal training budget.

Both runs train the same number of networks on the same synthetic people at the demo's search
resolution (64x48, every network built as its genes say: phi = 0) and spend the same total
epochs. The search is `evopose search` (the demo's config): an ancestor
trained e0 epochs, then generations of children that inherit their parents' weights and
train e epochs. Random sampling draws genotypes uniformly from the EvoPose2D space
(posenets' bounds: kernel, repeats, channels, strides) and trains each from scratch for the
same share of the budget. Both are scored by Eq. 2 with the same T and Gamma.

Run: cd /work/main && hatch run python bench/search_vs_random.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

import evosearch
import posenets
from evopose.config import Config
from evopose.datasets import write_synthetic_dataset
from evopose.demo import IMAGE_SIZE, demo_config
from evopose.search.candidate import CandidateMetrics, TrainCandidate, search_resolution
from evopose.search.evopose_space import EvoPoseSpace
from evopose.search.run import fitness_of, run_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--generations", type=int, help="search generations (2)")
    parser.add_argument("--children", type=int, help="children per generation (3)")
    parser.add_argument("--images", type=int, nargs=2, metavar=("TRAIN", "VAL"))
    parser.add_argument("--ancestor-epochs", type=int, help="e0 (the demo's)")
    parser.add_argument("--child-epochs", type=int, help="e (the demo's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/out/search_vs_random"))
    args = parser.parse_args()
    generations = args.generations or (1 if args.quick else 2)
    children = args.children or (2 if args.quick else 3)
    images = tuple(args.images or ((120, 16) if args.quick else (400, 40)))
    out = args.out / ("quick" if args.quick else "full") / f"seed-{args.seed}"

    data_root = out.parent / "data"
    if not (data_root / "val-dets" / "manifest.json").is_file():
        write_synthetic_dataset(
            data_root,
            train_images=images[0],
            val_images=images[1],
            image_size=IMAGE_SIZE,
            overwrite=True,
        )
    overrides = [
        f"search.generations={generations}",
        f"search.children={children}",
        f"search.seed={args.seed}",
    ]
    if args.quick:
        overrides += ["search.ancestor_epochs=2", "search.child_epochs=1"]
    if args.ancestor_epochs:
        overrides.append(f"search.ancestor_epochs={args.ancestor_epochs}")
    if args.child_epochs:
        overrides.append(f"search.child_epochs={args.child_epochs}")
    config = demo_config(out, overrides, data_root=data_root)
    s = config.search
    networks = 1 + s.generations * s.children
    budget = s.ancestor_epochs + s.generations * s.children * s.child_epochs
    # The same total epochs, spread as evenly as whole epochs allow (at least one each).
    shares = [budget // networks + (index < budget % networks) for index in range(networks)]
    shares = [max(1, share) for share in shares]

    started = time.perf_counter()
    result = run_search(config, out / "search", progress=False)
    search_seconds = time.perf_counter() - started
    with evosearch.Ledger(out / "search" / "ledger.sqlite", create=False) as ledger:
        best = evosearch.leaderboard(ledger, top=1)[0]
    print(f"search: best candidate {best.id}, fitness {best.fitness:.2f}", flush=True)

    started = time.perf_counter()
    fitness = fitness_of(config)
    resolution = search_resolution(config)
    space = EvoPoseSpace(config.model.genotype, resolution=resolution)
    rng = np.random.default_rng([args.seed, 7])
    sampled = []
    for index in range(networks):
        genotype = uniform_genotype(space.space, rng)
        metrics = train_from_scratch(config, genotype, shares[index], index, out / "random")
        sampled.append((fitness(metrics.to_json()), metrics, genotype))
        print(
            f"random {index}: fitness {sampled[-1][0]:.2f}, val loss {metrics.val_loss:.1f}, "
            f"{metrics.params / 1e3:.0f}k params",
            flush=True,
        )
    random_seconds = time.perf_counter() - started
    best_random = min(sampled, key=lambda item: item[0])

    print()
    print(
        "| method | networks | epochs each | total epochs | best fitness J | its val loss | "
        "its parameters | wall time |"
    )
    print("|" + " --- |" * 8)
    best_metrics = CandidateMetrics.of(best)
    print(
        f"| (mu+lambda) search with weight transfer | {networks} | e0={s.ancestor_epochs}, "
        f"e={s.child_epochs} | {budget} | {best.fitness:.2f} | {best_metrics.val_loss:.1f} | "
        f"{best_metrics.params / 1e3:.0f}k | {search_seconds:.0f} s |"
    )
    print(
        f"| random sampling, from scratch | {networks} | {min(shares)}-{max(shares)} | "
        f"{sum(shares)} | "
        f"{best_random[0]:.2f} | {best_random[1].val_loss:.1f} | "
        f"{best_random[1].params / 1e3:.0f}k | {random_seconds:.0f} s |"
    )
    print(
        f"\nbest fitness, random / search = {best_random[0] / best.fitness:.2f} (lower is "
        f"better; {result.reason}); {images[0]}/{images[1]} synthetic train/val images, input "
        f"{resolution[0]}x{resolution[1]} (phi = 0), batch {config.train.batch_size}, "
        f"T={s.target:g}, Gamma={s.gamma:g}, seed "
        f"{args.seed}; {platform.machine()} with {os.cpu_count()} CPUs"
    )


def uniform_genotype(space: posenets.SearchSpace, rng: np.random.Generator) -> list[list[int]]:
    """A genotype drawn uniformly from the space: every gene independent, strides redrawn
    until the downsampling bound holds."""
    while True:
        genes = []
        for module, ancestral in enumerate(space.ancestor, start=1):
            stride = ancestral.stride
            if module in space.stride_modules:
                stride = int(rng.integers(1, 3))
            genes.append(
                [
                    int(rng.choice(space.kernels)),
                    int(rng.integers(1, space.max_repeats + 1)),
                    int(rng.integers(1, ancestral.channels_div8 + 1)),
                    stride,
                ]
            )
        if space.is_valid(genes):
            return genes


def train_from_scratch(
    config: Config, genotype: list[list[int]], epochs: int, index: int, folder: Path
) -> CandidateMetrics:
    """Trains one sampled network from scratch with the search's own evaluation."""
    request = evosearch.EvalRequest(
        candidate_id=index,
        genotype=genotype,
        generation=0,
        parent_id=None,
        parent_artifact=None,
        artifact_dir=str(folder / f"network-{index}"),
        budget=epochs,
        seed=1000 + index,
    )
    Path(request.artifact_dir).mkdir(parents=True, exist_ok=True)
    return CandidateMetrics.from_json(TrainCandidate(config, verbose=0)(request).metrics)


if __name__ == "__main__":
    main()
