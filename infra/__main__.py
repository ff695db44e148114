"""``python -m infra``: the kafkarig command line."""

from infra.cli import main

raise SystemExit(main())
