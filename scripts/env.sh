# Sourced by the scripts: where the build cache, the Python tools and CMake
# live. Nothing here installs anything (that is scripts/setup.sh).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/offers-recsys/target}"
export OFFERS_PYVENV="${OFFERS_PYVENV:-$HOME/.cache/offers-recsys/pyvenv}"
# CMake >= 3.28 for LightGBM comes from PyPI into the venv; cargo from rustup.
export PATH="$HOME/.cargo/bin:$PATH:$OFFERS_PYVENV/bin"
if [[ -x "$OFFERS_PYVENV/bin/cmake" ]]; then
  export CMAKE="$OFFERS_PYVENV/bin/cmake"
fi
