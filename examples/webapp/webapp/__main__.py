"""`python -m webapp`: serve on $PORT, reporting release $RELEASE."""

import signal
import sys

from webapp.server import main

# A TERM from the deploy script stops the server the same clean way Ctrl-C does.
signal.signal(signal.SIGTERM, signal.default_int_handler)
sys.exit(main())
