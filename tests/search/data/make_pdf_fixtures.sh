#!/usr/bin/env bash
# Makes the PDF fixtures once (they are committed): pdf_sources/NAME.html printed by headless
# chromium (Debian's, with fonts-noto-cjk for the Chinese) to the path below.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
print() {
  chromium --headless --no-sandbox --disable-gpu --no-pdf-header-footer --print-to-pdf="$here/$2" "file://$here/pdf_sources/$1" 2>/dev/null
  echo "wrote $2"
}
print whale_shark_status.html corpus/en/whale_shark_status.pdf
print two_pages.html extract/two_pages.pdf
