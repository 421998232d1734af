"""`python -m provisioning`: see provisioning.cli."""

import sys

from provisioning.cli import main

sys.exit(main())
