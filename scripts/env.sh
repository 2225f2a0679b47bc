# Shared settings for the project's scripts. Builds and downloads go to persistent directories
# outside the clone so repeated runs (and CI) reuse them; nothing depends on them being warm.
export KSTREAMS_CACHE_DIR="${KSTREAMS_CACHE_DIR:-$HOME/.cache/kstreams}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KSTREAMS_CACHE_DIR/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"
