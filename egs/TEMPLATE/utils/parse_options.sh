#!/usr/bin/env bash
# Parse command-line options into shell variables; Kaldi/ESPnet-compatible. Source it:
#
#   stage=1          # first stage to run      <- every lowercase variable set before sourcing
#   stop_stage=100   # last stage to run          (and not exported) is an option
#   help_message="Usage: $0 [options] <args>"
#   . utils/parse_options.sh
#
# --foo_bar x, --foo-bar x and --foo_bar=x set foo_bar=x. A variable whose default is true/false only
# accepts true/false; stage, stop_stage, nj, nproc, ngpu, nnodes and node_rank only accept integers >= 0;
# any other variable whose default is an integer only accepts a number (checked after --config files
# too: "--stage: expected an integer, got 'abc'"). --config FILE sources FILE first (command-line
# options win over it). --help prints $help_message and every option with its current value. An
# unknown option is an error that names the nearest valid one and lists them all. Parsing stops at the
# first non-option argument or at `--`; the remaining arguments are left in "$@".

_po_options() {
    # Valid options: lowercase, non-exported shell variables (environment variables are not options).
    comm -23 <(compgen -v | grep -E '^[a-z][a-z0-9_]*$' | grep -vx help_message | sort) \
             <(compgen -e | sort)
}

_po_die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

_po_help() {
    # Options in the order they are declared (first in the files sourced before that list themselves in
    # _po_files, e.g. utils/common.sh, then in the script $0), each with its value and its line's comment.
    local name line file _po_k
    [ -n "${help_message:-}" ] && printf '%b\n' "$help_message"
    echo "Options (current values):"
    for name in $(_po_options); do
        _po_k=0
        for file in "${_po_files[@]}" "$0" ""; do  # "": declared nowhere (listed last)
            line=$(grep -n -m1 -E "^[[:space:]]*$name=" "$file" 2>/dev/null | cut -d: -f1) || true
            [ -z "$line" ] && [ -n "$file" ] || break
            _po_k=$((_po_k + 1))
        done
        printf '%s\t%s\t%s\t%s\n' "$_po_k" "${line:-0}" "$name" "$file"
    done | sort -t$'\t' -k1,1n -k2,2n | while IFS=$'\t' read -r _po_k line name file; do
        printf '  --%-22s %-20s %s\n' "$name" "${!name}" \
            "$( ((line > 0)) && sed -n "${line}s/^[^#]*#[[:space:]]*//p" "$file")"
    done
}

_po_nearest() {
    # The valid option closest to $1 (python3's difflib), or nothing.
    python3 -c 'import difflib, sys; print(*difflib.get_close_matches(sys.argv[1], sys.argv[2:], 1, 0.6))' \
        "$1" $(_po_options) 2>/dev/null || true
}

# Options that must be integers; other options with an integer default must stay numbers.
_po_integers=" stage stop_stage nj nproc ngpu nnodes node_rank "
_po_numbers=()
for _po_name in $(_po_options); do
    if [[ $_po_integers != *" $_po_name "* && ${!_po_name} =~ ^-?[0-9]+$ ]]; then _po_numbers+=("$_po_name"); fi
done

# --config files first, left to right, so options given on the command line override them.
_po_args=("$@")
for ((_po_i = 0; _po_i < ${#_po_args[@]}; _po_i++)); do
    if [ "${_po_args[_po_i]}" = --config ]; then
        _po_file=${_po_args[_po_i + 1]:-}
        [ -r "$_po_file" ] || _po_die "--config: cannot read config file '$_po_file'"
        # shellcheck disable=SC1090
        . "$_po_file"
    fi
done

while [ $# -gt 0 ]; do
    case $1 in
        --help | -h)
            _po_help
            exit 0
            ;;
        --)
            shift
            break
            ;;
        --config)
            [ $# -ge 2 ] || _po_die "option --config needs a file"
            shift 2
            ;;
        --?*)
            _po_name=${1#--}
            if [[ $_po_name == *=* ]]; then
                _po_value=${_po_name#*=}
                _po_name=${_po_name%%=*}
                _po_shift=1
            else
                [ $# -ge 2 ] || _po_die "option $1 needs a value"
                _po_value=$2
                _po_shift=2
            fi
            _po_name=${_po_name//-/_}
            if ! _po_options | grep -qx -- "$_po_name"; then
                _po_value=$(_po_nearest "$_po_name")
                _po_die "unknown option '$1'${_po_value:+ (did you mean --$_po_value?)}." \
                    "Valid options: $(_po_options | sed 's/^/--/' | tr '\n' ' ')(see --help)"
            fi
            if [[ ${!_po_name} == true || ${!_po_name} == false ]] && [[ $_po_value != true && $_po_value != false ]]; then
                _po_die "option --$_po_name expects true or false, got '$_po_value'"
            fi
            printf -v "$_po_name" '%s' "$_po_value"
            shift "$_po_shift"
            ;;
        *)
            break
            ;;
    esac
done
for _po_name in $(_po_options); do
    if [[ $_po_integers == *" $_po_name "* ]] && ! [[ ${!_po_name} =~ ^[0-9]+$ ]]; then
        _po_die "--$_po_name: expected an integer, got '${!_po_name}'"
    fi
done
for _po_name in "${_po_numbers[@]}"; do
    [[ ${!_po_name} =~ ^-?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$ ]] ||
        _po_die "--$_po_name: expected a number, got '${!_po_name}'"
done
unset _po_args _po_i _po_file _po_name _po_value _po_shift _po_integers _po_numbers _po_files
unset -f _po_options _po_die _po_help _po_nearest
true
