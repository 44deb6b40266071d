"""`evopose import-weights`: an EvoPose2D model file the paper's authors released (Keras 2 HDF5,
TensorFlow 2.3, float32 or bfloat16) as a `.keras` model that every evopose command takes:
predict, eval, export, info, and `model.transfer_from` of a fine-tuning run or a search."""

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from evopose import atomic
from evopose.cliutil import add_command, examples, given
from evopose.errors import InputFileError

if TYPE_CHECKING:  # posenets brings Keras and TensorFlow: imported when the command runs
    import posenets

log = logging.getLogger(__name__)


def import_weights(source: str | Path, out: str | Path) -> "posenets.ImportReport":
    """Imports the legacy HDF5 model file `source` into the matching posenets EvoPose2D (every
    weight checked, see `posenets.import_legacy_h5`) and writes it to `out`, a `.keras` file,
    atomically; returns what was imported."""
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise InputFileError(f"legacy model file '{source}': no such file")
    if out.suffix.lower() != ".keras":
        raise InputFileError(
            f"output '{out}': the model is written as a .keras file; end it in .keras"
        )
    import posenets

    model, report = posenets.import_legacy_h5(source)
    with atomic.atomic_path(out, suffix=".keras") as tmp:
        model.save(tmp)
    log.info("wrote %s, imported from %s (sha256 %s)", out, source, report.sha256)
    return report


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Registers `evopose import-weights`."""
    command = add_command(
        commands,
        "import-weights",
        "import an EvoPose2D model file the paper's authors released (Keras 2 HDF5, float32 or "
        "bfloat16) as a .keras model",
        examples(
            "evopose import-weights evopose2d_S_f32.h5 --out models/evopose2d_s.keras",
            "evopose info models/evopose2d_s.keras",
            "evopose predict --weights models/evopose2d_s.keras photo.jpg",
        ),
    )
    command.add_argument("file", type=Path, help="the HDF5 model file (e.g. evopose2d_S_f32.h5)")
    command.add_argument("--out", required=True, type=Path, help="the .keras model to write")
    command.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import posenets

    with given("--out", quoting=[args.out]):
        report = import_weights(args.file, args.out)
    print(report.summary())
    print(f"genotype: {posenets.SearchSpace().to_string(report.genotype)}")
    print(f"sha256: {report.sha256}")
    print(f"written: {args.out}")
    return 0
