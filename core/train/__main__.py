"""``python -m core.train``: train with stratified K-fold cross-validation (see ``--help``)."""

import sys

from core.train.cli import main

sys.exit(main())
