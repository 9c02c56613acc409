"""``python -m ata``: the same as the ``ata`` command."""

from ata.cli import main

raise SystemExit(main())
