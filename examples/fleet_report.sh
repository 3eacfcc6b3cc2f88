#!/usr/bin/env bash
# A fleet conformance report from two devices, merged and shown as one HTML page.
#
# On a real fleet each device runs `facade conformance run` and ships its JSON
# report back; here two runs on this machine stand in for two phones, each
# recorded under its own fingerprint (--fingerprint, or
# $FACADE_CONFORMANCE_FINGERPRINT; the detected one is kept in the report too).
#
#   examples/fleet_report.sh [OUT_DIR]     # writes OUT_DIR/fleet.json and OUT_DIR/fleet.html
set -euo pipefail
out="${1:-fleet-report}"
facade="${FACADE:-facade}"
mkdir -p "$out"

"$facade" conformance run --suite builtin --targets onnxruntime:cpu,native:cpu \
    --fingerprint phone-a --out "$out/phone-a.json" --no-store --no-progress > /dev/null
"$facade" conformance run --suite builtin --targets onnxruntime:cpu,native:cpu@fp16 \
    --fingerprint phone-b --out "$out/phone-b.json" --no-store --no-progress > /dev/null
"$facade" conformance merge "$out/phone-a.json" "$out/phone-b.json" --out "$out/fleet.json"
"$facade" conformance show "$out/fleet.json" --html "$out/fleet.html" --markdown
