import sys

from modelarts_operator.cli import main

sys.exit(main())
