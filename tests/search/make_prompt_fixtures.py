#!/usr/bin/env python3
"""Writes tests/search/data/expected_prompts.json: DeepSeek's official prompts filled by Python's
str.format, straight from the README's code blocks (data/deepseek_r1_readme_prompts.md), and long dates
from Python's datetime. prompts_test.cpp checks whale's renderings against this file, character for
character. The search-results layout is whale's (docs/search.md), written here independently."""
import datetime
import json
import pathlib
import re

here = pathlib.Path(__file__).resolve().parent
readme = (here / "data" / "deepseek_r1_readme_prompts.md").read_text(encoding="utf-8")
templates = {}
for block in re.findall(r"```\n(.*?)```", readme, flags=re.S):
    exec(block, {}, templates)  # the README's own Python: file_template = """...""" etc.
assert set(templates) == {"file_template", "search_answer_zh_template", "search_answer_en_template"}, templates.keys()

def results(docs):
    return "\n".join(f"[webpage {i} begin]\n{d['title']}\n{d['text'] or d['snippet']}\n[webpage {i} end]"
                     for i, d in enumerate(docs, 1))

ZH_DAYS = "一二三四五六日"  # datetime.weekday(): Monday = 0
def long_date(lang, d):
    if lang == "zh":
        return f"{d.year}年{d.month}月{d.day}日 星期{ZH_DAYS[d.weekday()]}"
    return f"{d.strftime('%A')}, {d.strftime('%B')} {d.day}, {d.year}"

docs = [
    {"title": "Whale sharks", "url": "https://example.org/a", "snippet": "short", "text": "Whale sharks eat plankton.\nThey are fish."},
    {"title": "鲸鲨", "url": "/corpus/b.md", "snippet": "鲸鲨是鱼类。", "text": ""},
    {"title": "Braces {question} {cur_date}", "url": "c.txt", "snippet": "", "text": "A page quoting {search_results} literally."},
]
cases = []
for lang, question, date in [("en", "What do whale sharks eat? {cur_date}", datetime.date(2026, 12, 6)),
                             ("zh", "鲸鲨吃什么？", datetime.date(2025, 1, 20)),
                             ("en", "", datetime.date(2024, 2, 29))]:
    key = "search_answer_zh_template" if lang == "zh" else "search_answer_en_template"
    cur = long_date(lang, date)
    cases.append({"language": lang, "question": question, "date": [date.year, date.month, date.day],
                  "documents": docs, "search_results": results(docs), "cur_date": cur,
                  "expected": templates[key].format(search_results=results(docs), cur_date=cur, question=question)})
files = [{"name": "报告.pdf", "content": "line 1\n{question}\n", "question": "Summarise it.",
          "expected": templates["file_template"].format(file_name="报告.pdf", file_content="line 1\n{question}\n", question="Summarise it.")}]
dates = []
for lang in ("en", "zh"):
    for d in (datetime.date(1970, 1, 1), datetime.date(2000, 2, 29), datetime.date(2026, 12, 6),
              datetime.date(2100, 3, 1), datetime.date(2025, 12, 31)):
        dates.append({"language": lang, "date": [d.year, d.month, d.day], "expected": long_date(lang, d)})
out = here / "data" / "expected_prompts.json"
out.write_text(json.dumps({"search": cases, "file": files, "dates": dates}, ensure_ascii=False, indent=1) + "\n",
               encoding="utf-8")
print(f"wrote {out}")
