"""``python -m facerec``: the command line."""

from facerec.cli import main

main()
