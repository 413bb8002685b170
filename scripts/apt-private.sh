#!/usr/bin/env bash
# Runs apt-get against the private trixie/sid root (never the system's own state).
CACHE=${SPINBOX_CACHE:-/var/cache/spinbox}
PRIV=$CACHE/apt-private
exec apt-get -o Dir::State="$PRIV/state" -o Dir::State::status="$PRIV/status" \
  -o Dir::Cache="$PRIV/cache" -o Dir::Etc::SourceList="$PRIV/sources.list" \
  -o Dir::Etc::SourceParts=/nonexistent -o Dir::Etc::Preferences="$PRIV/etc/preferences" \
  -o Dir::Etc::PreferencesParts="$PRIV/etc/preferences.d" -o APT::Default-Release=sid "$@"
