#!/bin/sh
# Container entry point for every mci image. MCI_SERVICE is baked in by the Dockerfile.
#   (no arguments)     -> the service's default: `--role all`; the emulators and the console on
#                         0.0.0.0 and their port
#   --role api|worker  -> `python -m <service> --role ...` (any option list is passed through)
#   anything else      -> run that command instead (e.g. `sh`, `python -m alembic ...`)
set -eu

service="${MCI_SERVICE:?MCI_SERVICE is not set (build the image with --build-arg SERVICE=...)}"

if [ "$#" -gt 0 ]; then
    case "$1" in
        -*) ;;
        *) exec "$@" ;;
    esac
fi

case "$service" in
    emulator)
        module=allegro_emulator
        if [ "$#" -eq 0 ]; then
            set -- --host 0.0.0.0 --port "${ALLEGRO_EMULATOR_PORT:-8400}"
        fi
        ;;
    bigbuy-emulator)
        module=bigbuy_emulator
        if [ "$#" -eq 0 ]; then
            set -- --host 0.0.0.0 --port "${BIGBUY_EMULATOR_PORT:-8410}"
        fi
        ;;
    console)
        module=mci_console
        if [ "$#" -eq 0 ]; then
            set -- --host "${CONSOLE_HTTP_HOST:-0.0.0.0}" --port "${CONSOLE_HTTP_PORT:-8009}"
        fi
        ;;
    auth | catalog | pricing | offers | orders | bigbuy)
        module="$service"
        if [ "$service" = bigbuy ]; then
            module=bigbuy_connector
        fi
        upper=$(printf '%s' "$service" | tr '[:lower:]' '[:upper:]')
        # Inside a container the service must listen on every interface, not 127.0.0.1.
        eval "current_host=\${${upper}_HTTP_HOST:-}"
        if [ -z "$current_host" ]; then
            export "${upper}_HTTP_HOST=0.0.0.0"
        fi
        if [ "$#" -eq 0 ]; then
            set -- --role all
        fi
        ;;
    *)
        echo "mci-entrypoint: unknown MCI_SERVICE '$service'" >&2
        exit 64
        ;;
esac

exec python -m "$module" "$@"
