#!/bin/sh
# Builds {{file}}.wasm, the {{slot}} component, from app.py against the contract in wit/.
# Needs componentize-py (pip install componentize-py).
set -e
cd "$(dirname "$0")"
componentize-py -d wit -w {{slot}} componentize app -o {{file}}.wasm
echo "built {{file}}.wasm"
