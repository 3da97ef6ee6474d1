"""`python -m dred_rtc` is the `dred-rtc` command."""

import sys

from .cli import main

sys.exit(main())
