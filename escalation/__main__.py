"""``python -m escalation`` runs the ``escalation`` command."""

from escalation.cli import main

main()
