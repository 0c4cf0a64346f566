"""The parameter digest an operation record carries (`op-digest`), as Pacemaker
computes it: the node daemon records it, the scheduler compares it with the
configuration to tell a changed definition (restart or reload)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def _xml_attr(v: str) -> str:
    """An attribute value escaped as libxml2 writes it (always in double quotes:
    a `"` is `&quot;`, complex_enforce_colo)."""
    return (v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;")
            .replace("\t", "&#9;"))


def params_digest(params: Mapping[str, str], extra: Mapping[str, str] | None = None) -> str:
    """MD5 of the canonical `<parameters .../>` string Pacemaker records as op-digest."""
    allp = dict(params)
    if extra:
        allp.update(extra)
    if not allp:
        text = " <parameters/>\n"
    else:
        attrs = " ".join(f'{k}="{_xml_attr(v)}"' for k, v in sorted(allp.items()))
        text = f" <parameters {attrs}/>\n"
    return hashlib.md5(text.encode()).hexdigest()
