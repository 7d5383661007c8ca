#!/usr/bin/env bash
# Makes the PDF fixtures once (they are committed): pdf_sources/NAME.html printed by headless
# chromium (Debian's, with fonts-noto-cjk for the Chinese) to the path below; then encrypted copies.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
print() {
  chromium --headless --no-sandbox --disable-gpu --no-pdf-header-footer --print-to-pdf="$here/$2" "file://$here/pdf_sources/$1" 2>/dev/null
  echo "wrote $2"
}
print whale_shark_status.html corpus/en/whale_shark_status.pdf
print two_pages.html extract/two_pages.pdf
# Encrypted copies (Debian's qpdf, apt-get install qpdf; AES-256): one needs a user password to open, the other only
# restricts editing (empty user password), which readers open without asking.
qpdf --encrypt secret owner 256 -- "$here/extract/two_pages.pdf" "$here/extract/two_pages_password.pdf"
qpdf --encrypt "" owner 256 -- "$here/extract/two_pages.pdf" "$here/extract/two_pages_owner_only.pdf"
echo "wrote extract/two_pages_password.pdf extract/two_pages_owner_only.pdf"
