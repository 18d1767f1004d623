"""`python -m proxy`: the same as the `stream-proxy` console script."""

from proxy.cli import main

raise SystemExit(main())
