#!/usr/bin/env bash
# Debian's nginx for the reverse-proxy suite (the tests run it unprivileged-style with their own prefix).
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] && exit 0
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx
