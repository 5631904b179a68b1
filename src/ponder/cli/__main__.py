"""`python -m ponder.cli`: the same as the `ponder` command."""

from ponder.cli import main

main()
