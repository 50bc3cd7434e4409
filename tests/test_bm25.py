"""BM25 tokenization: Traditional and Simplified Chinese meet in one script (issue #15, item 13)."""

import pytest

from agentkit.retrievers.bm25 import BM25Index, tokenize

DOCS = {
    "taiwan": "臺灣大學位於臺北市大安區，是臺灣歷史最悠久的大學，前身為臺北帝國大學。",  # Traditional
    "beijing": "北京大学位于北京市海淀区，是中国著名的综合性大学，前身为京师大学堂。",  # Simplified
    "rail": "台灣高速鐵路於二〇〇七年通車，連接台北與高雄。",  # Traditional with the 台 variant
    "english": "The National Taiwan University library holds millions of books.",
}


def _index() -> BM25Index:
    return BM25Index(list(DOCS), list(DOCS.values()), [{} for _ in DOCS])


@pytest.mark.parametrize(
    "query, expected",
    [
        ("台湾大学", "taiwan"),  # Simplified query, Traditional document
        ("臺灣大學", "taiwan"),
        ("北京大學在哪個區", "beijing"),  # Traditional query, Simplified document
        ("北京大学在哪个区", "beijing"),
        ("高速铁路哪一年通车", "rail"),
        ("Taiwan University library", "english"),
    ],
)
def test_query_finds_the_document_in_the_other_script(query, expected):
    assert _index().search(query, k=1)[0].chunk_id == expected


def test_scripts_and_variants_give_the_same_tokens():
    assert tokenize("臺灣大學") == tokenize("台湾大学") == tokenize("台灣大學")
    assert tokenize("The Moon and 臺北") == ["moon", "台", "北", "台北"]
    assert tokenize("the moon") == ["moon"]
