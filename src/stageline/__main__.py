"""`python -m stageline` runs the CLI."""

from stageline.cli.app import main

main()
