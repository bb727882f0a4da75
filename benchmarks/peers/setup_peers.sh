#!/usr/bin/env bash
# Build the peer toolkits (fairseq-fixed, ESPnet) in their own throw-away virtualenvs under
# benchmarks/venvs/. Idempotent: a venv that finished installing carries a .ready marker and is skipped.
# Peers are never legokit dependencies. Recipes and caveats: docs/peers.md.
# Usage: benchmarks/peers/setup_peers.sh [fairseq] [espnet]   (default: both)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENVS="$ROOT/benchmarks/venvs"
TORCH="torch==2.13.0"
mkdir -p "$VENVS"

fresh_venv() {  # fresh_venv NAME -> prints the venv path; recreates a half-built one
  local v="$VENVS/$1"
  [ -d "$v" ] && [ ! -f "$v/.ready" ] && rm -rf "$v"
  [ -d "$v" ] || python3 -m venv "$v"
  echo "$v"
}

setup_fairseq() {
  [ -f "$VENVS/fairseq/.ready" ] && { echo "fairseq: ready"; return; }
  local v; v="$(fresh_venv fairseq)"
  "$v/bin/pip" install -q "$TORCH" numpy cython wheel
  # ~5.5 min: builds fairseq's C++ extension; the fork imports on Python 3.11 (0.12.2 does not).
  "$v/bin/pip" install -q --no-build-isolation fairseq-fixed==0.12.3.1 "$TORCH"
  "$v/bin/python" -c "import fairseq; print('fairseq', fairseq.__version__)"
  touch "$v/.ready"
}

setup_espnet() {
  [ -f "$VENVS/espnet/.ready" ] && { echo "espnet: ready"; return; }
  local v; v="$(fresh_venv espnet)"
  "$v/bin/pip" install -q "$TORCH"
  # --no-deps: a plain install swaps in a 5.3 GB CUDA torch (ESPnet pins setuptools<74).
  "$v/bin/pip" install -q --no-deps espnet==202511
  "$v/bin/pip" install -q "$TORCH" 'setuptools>=77,<81' packaging 'configargparse>=1.2.1' typeguard \
    humanfriendly 'scipy>=1.4.1' filelock 'librosa>=0.10.2' jamo==0.4.1 'PyYAML>=5.1.2' \
    'soundfile>=0.10.2' 'h5py>=2.10.0' 'kaldiio>=2.18.0' torch_complex 'nltk>=3.4.5' 'numpy>=2.0.0' \
    protobuf hydra-core opt-einsum lightning sentencepiece==0.2.0 'pyworld>=0.3.4' 'pypinyin<=0.44.0' \
    espnet_tts_frontend ci_sdr fast-bss-eval==0.1.3 asteroid_filterbanks==0.4.0 editdistance \
    'importlib-metadata<5.0' torchaudio==2.11.0 tensorboard matplotlib  # asr_train's default logging and plots
  # The torchaudio wheel is CUDA-linked; ESPnet only needs its Python parts.
  rm -f "$v"/lib/python3.11/site-packages/torchaudio/lib/*.so
  "$v/bin/python" -c "from espnet.nets.batch_beam_search import BatchBeamSearch; \
from espnet2.asr.encoder.conformer_encoder import ConformerEncoder; print('espnet ok')"
  touch "$v/.ready"
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fairseq espnet)
for t in "${targets[@]}"; do
  case "$t" in
    fairseq) setup_fairseq ;;
    espnet) setup_espnet ;;
    *) echo "unknown peer '$t' (expected fairseq or espnet)" >&2; exit 2 ;;
  esac
done
