"""Bytewax peer of `timely-connect run` on a file: FileSource -> FileSink,
run with recovery on (SQLite, snapshots every second) by benches/peers/run.sh.

Input and output paths come from the environment (PEERS_IN, PEERS_OUT).
"""

import os
from pathlib import Path

import bytewax.operators as op
from bytewax.connectors.files import FileSink, FileSource
from bytewax.dataflow import Dataflow

flow = Dataflow("peers_file")
lines = op.input("in", flow, FileSource(Path(os.environ["PEERS_IN"])))
# FileSink is partitioned by key: one file, one key.
keyed = op.key_on("one_file", lines, lambda _line: "all")
op.output("out", keyed, FileSink(Path(os.environ["PEERS_OUT"])))
