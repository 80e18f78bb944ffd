"""``python -m pygkd``: the command line (also what ``torchrun -m pygkd`` runs per process)."""

from pygkd.cli import main

if __name__ == "__main__":
    main(prog_name="pygkd")
