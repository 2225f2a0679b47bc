# Shared settings for the project's scripts. Builds go to a persistent directory outside the
# clone so repeated runs (and CI) reuse them; nothing depends on it being warm.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kstreams/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"
