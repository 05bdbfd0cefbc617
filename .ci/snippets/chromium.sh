#!/usr/bin/env bash
# Debian's Chromium for the browser e2e suite (playwright-core drives it; no browser downloads).
command -v chromium >/dev/null 2>&1 && exit 0
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
