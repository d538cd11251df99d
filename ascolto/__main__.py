"""``python -m ascolto`` runs the command line (used to start background workers)."""

from ascolto.cli.main import main

main()
