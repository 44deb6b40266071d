"""A toy search run as a separate process by test_evosearch_crash.py (killed and resumed there).

Usage: python evosearch_crash_child.py LEDGER JOURNAL EXECUTOR CONFIG_JSON
EXECUTOR is ``serial`` or a number of worker processes. Prints the result as JSON.
"""

import json
import sys

from evosearch import ProcessExecutor, Search, SearchConfig, SerialExecutor, TradeoffFitness
from evosearch.toy import IntVectorSpace, ToyEvaluation


def main() -> None:
    ledger, journal, executor, config = sys.argv[1:5]
    search = Search(
        IntVectorSpace(),
        ToyEvaluation(sleep=0.01, journal=journal),
        ledger,
        SearchConfig(**json.loads(config)),
        fitness=TradeoffFitness(target=1e4, gamma=-0.07),
        executor=SerialExecutor() if executor == "serial" else ProcessExecutor(int(executor)),
        progress=False,
    )
    result = search.run()
    sys.stdout.write(json.dumps({"reason": result.reason, "generation": result.generation}) + "\n")


if __name__ == "__main__":
    main()
