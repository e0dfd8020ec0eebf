#!/bin/sh
# A dns-01 exec hook for tlsgate's tests: it sets and clears TXT records
# through pebble-challtestsrv's management API ($CHALLTESTSRV).
# Called as: challtestsrv-hook.sh present|cleanup FQDN VALUE
set -eu
action=$1 fqdn=$2 value=$3
case "$action" in
present) path=set-txt ;;
cleanup) path=clear-txt ;;
*) echo "unknown action $action" >&2; exit 2 ;;
esac
if [ -n "${HOOK_FAIL:-}" ]; then
	echo "hook refused on purpose: $HOOK_FAIL" >&2
	exit 3
fi
curl -fsS -o /dev/null -X POST -d "{\"host\": \"$fqdn\", \"value\": \"$value\"}" "$CHALLTESTSRV/$path"
