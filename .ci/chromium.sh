#!/usr/bin/env bash
# Debian's Chromium and chromedriver for the HTML report's browser test; sourced by .ci/run.
# Installs them when missing, then sets KAM_SYNC_TEST_BROWSER_REQUIRED so that the test fails,
# rather than skips, when it finds no browser.

if ! { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } \
  && command -v apt-get >/dev/null 2>&1; then
  echo "ci: installing Chromium and chromedriver from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
    || echo "ci: could not install Chromium; the browser test will fail"
fi
export KAM_SYNC_TEST_BROWSER_REQUIRED=1
