import sys

from talkingface.parity.cli import main

sys.exit(main())
