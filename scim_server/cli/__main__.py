"""``python -m scim_server.cli``: how the server starts its relay child (``scim_server.relay_placement``)."""

import sys

from . import main

sys.exit(main())
