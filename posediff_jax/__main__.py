import sys

from posediff_jax.cli import main

sys.exit(main())
