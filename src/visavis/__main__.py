"""``python -m visavis`` runs the command line."""

from visavis.cli import main

main()
