"""``python -m facerec.cli``."""

from facerec.cli import main

main()
