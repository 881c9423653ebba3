"""``python -m qts`` is the ``qts`` command."""

from qts.cli.main import main

main()
