import sys

from submissions.cli import main

sys.exit(main())
