"""`python -m rerank_bundle ...` runs the CLI: what a bundle image starts, since it carries
the package as plain sources under /packages rather than an installed console script."""
import sys

from .cli import main

sys.exit(main())
