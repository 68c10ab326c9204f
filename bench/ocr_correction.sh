#!/usr/bin/env bash
# Measurement: OCR correction of container numbers (vasscm_core::ocr) on a synthetic corpus of
# N true numbers (300 owner codes), read with 1 % and 3 % per-character confusions of the model
# plus 0.2 % random substitutions; 200 other containers are expected at the gate with each one.
# Prints a table per rate. Exits non-zero when any read is corrected to a wrong number.
# Usage: bench/ocr_correction.sh [N] [SEED]   (defaults 100000, 6346). No PostgreSQL needed.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
SEED=${2:-6346}
cargo build -q --release -p vasscm-core --example ocr_correction
for RATE in 0.01 0.03; do
    target/release/examples/ocr_correction "$N" "$SEED" 200 "$RATE" 0.002
    echo
done
