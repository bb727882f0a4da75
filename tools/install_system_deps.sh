#!/usr/bin/env bash
# Install the Debian packages legokit's recipes and tests use: espeak-ng and festival with its English
# voices (speech synthesis for the English ASR and TTS data), ffmpeg (Europarl-ST m4a audio) and SLURM with munge (tests/cluster start a
# one-node cluster of their own; nothing is configured system-wide). Safe to re-run; quiet when all is there;
# says what to do where apt-get is not available.
set -euo pipefail
pkgs=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have slurmctld || pkgs+=(slurmctld)   # tests/cluster: legokit queue --cmd slurm
have slurmd || pkgs+=(slurmd)
have munged || pkgs+=(munge)
have sbatch || pkgs+=(slurm-client)
command -v espeak-ng >/dev/null 2>&1 || pkgs+=(espeak-ng)
command -v ffmpeg >/dev/null 2>&1 || pkgs+=(ffmpeg)     # Europarl-ST m4a audio
command -v text2wave >/dev/null 2>&1 || pkgs+=(festival)  # legokit prepare festival-speech, and its voices:
for v in kallpc16k kdlpc16k us-slt-hts; do dpkg -s "festvox-$v" >/dev/null 2>&1 || pkgs+=("festvox-$v"); done
command -v dpkg-deb >/dev/null 2>&1 || pkgs+=(dpkg)
[ ${#pkgs[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "legokit: missing ${pkgs[*]} and there is no apt-get here; install ${pkgs[*]} with your system's" \
         "package manager (e.g. 'brew install espeak-ng', 'dnf install espeak-ng') and re-run." >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "legokit: need root to 'apt-get install ${pkgs[*]}'; run it as root and re-run." >&2; exit 1
    fi
fi
echo "legokit: installing ${pkgs[*]} with apt-get" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null
