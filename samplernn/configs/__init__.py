"""The model configs shipped inside the package, so an installed toolkit needs no checkout.

These files are the one source of their contents: the repository's top-level default.config.json
and demo.config.json, which users pass by path as in PRiSM SampleRNN, are copies that
tests/test_config.py keeps identical.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIG_FILE = os.path.join(HERE, "default.config.json")
DEMO_CONFIG_FILE = os.path.join(HERE, "demo.config.json")
