"""``python -m coopfeed`` -> ``cli.main()``."""

from coopfeed.cli import main

raise SystemExit(main())
