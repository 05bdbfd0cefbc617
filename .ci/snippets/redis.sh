#!/usr/bin/env bash
# Debian's redis-server for the scale-out suite (the tests start their own on free ports).
command -v redis-server >/dev/null 2>&1 && exit 0
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
