"""``pygkd launch``: data-parallel runs on one machine through ``torch.distributed.run`` (what
``torchrun`` runs), with pygkd's one-line errors.

``pygkd launch --nproc-per-node 2 train --preset teacher`` is ``torchrun --standalone
--nproc-per-node 2 -m pygkd train --preset teacher``, except that a process that stops on bad
input (an unavailable ``--device``, a missing file) ends the launch with its one ``Error:``
line, printed once by rank 0, and its exit code (2), instead of the launcher's
``ChildFailedError`` report.
"""

from __future__ import annotations

import logging
import sys

import click

from pygkd.cli.main import main


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                "help_option_names": ["-h", "--help"]})
@click.option("--nproc-per-node", type=click.IntRange(min=1), default=2, show_default=True,
              help="Processes (one per GPU, or CPU processes with gloo).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def launch(nproc_per_node: int, command: tuple[str, ...]) -> None:
    """Run a pygkd COMMAND (train, distill, prune) as NPROC_PER_NODE data-parallel
    processes on this machine (torch.distributed with NCCL on GPUs, gloo on CPUs)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    # the launcher's own reports (rendezvous, per-process failures) stay quiet: each failing
    # process has said why on rank 0 already
    for name in ("torch.distributed.elastic", "torch.distributed.run",
                 "torch.distributed.launcher"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    args = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={nproc_per_node}", "-m", "pygkd", *command])
    try:
        run(args)
    except ChildFailedError as err:
        _, failure = err.get_first_failure()
        code = failure.exitcode if isinstance(failure.exitcode, int) and failure.exitcode > 0 \
            else 1
        sys.exit(code)
