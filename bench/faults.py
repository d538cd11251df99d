"""Recovery time and accounting under each fault of the fault suite (prints figures only).

    python bench/faults.py [--posts 3000] [--only worker-sigkill,es-sigstop] [--home DIR]

Runs on a private Kafka + Elasticsearch of its own (``ascolto stack up`` under a temporary
ASCOLTO_HOME, on free ports: the shared stack on 9092/9200 is never touched), with the scenarios of
:mod:`ascolto.faults`, the ones tests/faults asserts on. For each fault it prints:

* the recovery time: from the fault being lifted (the restart command, SIGCONT, the block removed),
  or injected for bad input (poison, flood, oversized line, lost alias), to indexing resuming (the
  index count, or the worker's acknowledged-documents counter, rising again); a restart's own
  start-up time is included, as the user waits for it too;
* the accounting: produced, indexed (distinct ids), dead-lettered, lost, duplicated;

next to a plain run's throughput. Recovery times move with the machine's load; the accounting
must not move at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ascolto.faults.accounting import Accounting
from ascolto.faults.private_stack import PrivateStack
from ascolto.faults.scenarios import SCENARIOS, Outcome, run_scenario

#: Where "lost" is the point: the operator deleted the index holding those posts (``lost_after``
#: counts the posts published after the deletion that did not reach the index; it must be 0).
LOSES_BY_DESIGN = {"lost index"}

#: Posts per scenario where the count is not the scenario's own (long posts, flood, oversized line).
SIZES = {"long-posts": 1000, "flood": 2000, "oversized-line": 200}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=3000, help="posts per scenario (default 3000)")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios among: {', '.join(SCENARIOS)}")
    parser.add_argument("--home", type=Path, help="ASCOLTO_HOME of the private stack (default: a temporary one)")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose among {', '.join(SCENARIOS)}")

    if args.home:
        args.home.mkdir(parents=True, exist_ok=True)
        args.home.chmod(0o755)  # as root, Elasticsearch runs as another user and must reach its files
    print("starting a private stack ...", flush=True)
    if args.home:
        stack = PrivateStack(args.home.resolve())
        seconds = stack.up()
    else:
        stack, seconds = PrivateStack.started()
    print(f"private stack under {stack.home} up in {seconds:.0f}s", flush=True)
    try:
        outcomes: list[Outcome] = []
        failures: list[str] = []
        for name in ["plain", *chosen]:
            n = SIZES.get(name, args.posts)
            print(f"... {name} ({n} posts)", flush=True)
            try:
                outcomes.append(run_scenario(stack, name, n))
            except Exception as exc:  # a bench reports a broken scenario and goes on with the others
                failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
        report(outcomes, failures)
        inexact = [o.name for o in outcomes if not o.accounting.exact and o.name not in LOSES_BY_DESIGN]
        return 1 if failures or inexact else 0
    finally:
        stack.down()
        if not args.home:
            stack.remove()


def report(outcomes: list[Outcome], failures: list[str]) -> None:
    print()
    print(Accounting.header() + "  exact")
    for outcome in outcomes:
        exact = str(outcome.accounting.exact)
        if outcome.name in LOSES_BY_DESIGN:
            # "lost" are the posts the operator deleted with the index; what must hold is lost_after == 0.
            exact = f"{outcome.notes.get('lost_after') == 0} (lost = deleted with the index)"
        print(outcome.accounting.row(outcome.name, outcome.recovery_seconds) + f"  {exact}")
    plain = next((o for o in outcomes if o.name == "plain"), None)
    if plain is not None:
        print(f"\nplain run: {plain.notes['posts_per_second']:,.0f} posts/s from publishing to the last indexed")
    for outcome in outcomes:
        extra = {k: v for k, v in outcome.notes.items() if isinstance(v, int | float) and k != "posts_per_second"}
        if extra:
            shown = ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in extra.items())
            print(f"{outcome.name}: {shown}")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
