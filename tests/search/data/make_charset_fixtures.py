#!/usr/bin/env python3
"""Writes the legacy-charset HTML fixtures once (they are committed): the same page encoded by
Python's codecs in GBK (declared gb2312, as old Chinese sites do), Big5 and windows-1252 (declared
iso-8859-1, which browsers read as windows-1252)."""
from pathlib import Path

here = Path(__file__).resolve().parent / "extract"
pages = {
    "gbk_page.html": ("gb2312", "gbk", "<title>鲸鲨</title><p>鲸鲨是最大的鱼类，主要吃浮游生物。</p>"),
    "big5_page.html": ("big5", "big5", "<title>鯨鯊</title><p>鯨鯊是最大的魚類。</p>"),
    "latin1_page.html": ("iso-8859-1", "cp1252", "<title>Café</title><p>Requin‑baleine – “naïve” €5</p>".replace("‑", "-")),
}
for name, (label, codec, body) in pages.items():
    html = f'<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset={label}">{body}</html>'
    (here / name).write_bytes(html.encode(codec))
    print("wrote", name)
