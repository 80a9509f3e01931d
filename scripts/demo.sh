#!/usr/bin/env bash
# The main job on real photos: enroll people one-shot, verify pairs, identify faces.
# Uses ../shared (weights and photos) unless FACEREC_SHARED says otherwise, and a
# throw-away gallery unless FACEREC_DB is set. Runs in the core install (no torch): the
# models are the ONNX files of ../shared/weights/onnx, run by onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${FACEREC_SHARED:-../shared}"
export FACEREC_WEIGHTS_DIR="${FACEREC_WEIGHTS_DIR:-$SHARED/weights}"
FACEREC="${FACEREC:-.venv/bin/facerec}"
command -v "$FACEREC" >/dev/null || FACEREC=facerec
LFW="$SHARED/data/lfw_dev/images"
ATT="$SHARED/data/att_faces"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export FACEREC_DB="${FACEREC_DB:-$WORK/gallery.db}"

echo "== prepare: the ONNX files found, the int8 model built once (later commands start at once)"
"$FACEREC" models prepare

echo "== verify (1:1)"
"$FACEREC" verify "$LFW/Abel_Pacheco/Abel_Pacheco_0001.jpg" "$LFW/Abel_Pacheco/Abel_Pacheco_0004.jpg"
"$FACEREC" verify "$LFW/Abel_Pacheco/Abel_Pacheco_0001.jpg" "$LFW/Akhmed_Zakayev/Akhmed_Zakayev_0001.jpg"

echo "== enroll, one photo per person"
for person in Abel_Pacheco Akhmed_Zakayev Amber_Tamblyn; do
  "$FACEREC" enroll "$person" "$LFW/$person/${person}_0001.jpg"
done
mkdir -p "$WORK/att"
for n in 1 2 3 4 5; do mkdir -p "$WORK/att/s$n" && cp "$ATT/s$n/1.pgm" "$WORK/att/s$n/"; done
"$FACEREC" enroll --from-dir "$WORK/att"
"$FACEREC" list

echo "== identify (1:N, open set)"
"$FACEREC" identify "$LFW/Akhmed_Zakayev/Akhmed_Zakayev_0003.jpg" --top-k 3
"$FACEREC" identify "$ATT/s4/7.pgm" --top-k 3
echo "-- someone never enrolled:"
"$FACEREC" identify "$ATT/s40/1.pgm" --top-k 3
"$FACEREC" index stats
