"""XML: records are the elements at ``record_path``, streamed with defusedxml's ``iterparse``.

Entity declarations (the "billion laughs" bomb) and external entities/references (XXE) are refused: the whole file
fails with an error naming it, before any record is read. Each record becomes a dict: attributes and leaf children
are text columns; children with their own structure, or repeated children, become JSON. Memory stays bounded because
every finished element is detached from the tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as safe_tree

from resources.files.common import FileFormatError, Quarantine
from resources.files.options import FileOptions
from resources.files.records import MAX_DEPTH, Located, value_problem

ANY = "*"


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def xml_records(path: Path, display: str, options: FileOptions, quarantine: Quarantine) -> Iterator[Located]:
    segments = [part for part in re.split(r"[./]", options.record_path or "") if part]
    source = path.open("r", encoding=options.encoding) if options.encoding else path.open("rb")
    with source:
        events = safe_tree.iterparse(source, events=("start", "end"), forbid_dtd=False, forbid_entities=True,
                                     forbid_external=True)
        try:
            yield from _walk(events, segments, display, quarantine)
        except defusedxml.DefusedXmlException as error:
            raise FileFormatError(f"{display}: refused to parse: {_describe(error)}; entity expansion is disabled "
                                  f"to protect against entity bombs and external-entity (XXE) attacks") from None
        except ParseError as error:
            line, column = error.position
            quarantine.add(f"{display}:line {line}", f"malformed XML at line {line}, column {column + 1}: "
                           f"{str(error).split(':')[0]}; the records after this point could not be read "
                           f"(truncated file?)")


def _describe(error: defusedxml.DefusedXmlException) -> str:
    if isinstance(error, defusedxml.EntitiesForbidden):
        kind = "an external entity" if error.sysid or error.pubid else "an entity"
        return f"the document declares {kind} ({error.name!r})"
    if isinstance(error, defusedxml.ExternalReferenceForbidden):
        return f"the document references an external resource ({error.sysid or error.pubid!r})"
    return str(error)


def _walk(events, segments: list[str], display: str, quarantine: Quarantine) -> Iterator[Located]:
    elements: list[Element] = []
    tags: list[str] = []
    target: list[str] = []
    number = 0
    too_deep = False
    for event, element in events:
        if event == "start":
            if not elements:
                target = _absolute(segments, local_name(element.tag))
            elements.append(element)
            tags.append(local_name(element.tag))
            too_deep = too_deep or len(tags) > len(target) + MAX_DEPTH
            continue
        if _matches(tags, target):
            number += 1
            location = f"{display}:record {number}"
            problem = f"elements nested deeper than {MAX_DEPTH} levels" if too_deep else None
            record = None if problem else element_to_record(element)
            problem = problem or value_problem(record)
            if problem:
                quarantine.add(location, problem, _head(element))
            else:
                yield location, record
            too_deep = False
            _detach(elements)
        elif not _inside_record(tags, target) and not _on_path(tags, target):
            _detach(elements)
        elements.pop()
        tags.pop()


def _head(element: Element) -> str:
    """The start of a bad record as text, for quarantine (its tag, attributes and first text)."""
    attributes = " ".join(f'{local_name(key)}="{value}"' for key, value in element.attrib.items())
    return f"<{local_name(element.tag)}{' ' if attributes else ''}{attributes}>{(element.text or '')[:200]}"


def _absolute(segments: list[str], root: str) -> list[str]:
    """The record path from the root: "store" and "stores/store" both mean /stores/store; unset means /root/*."""
    if not segments:
        return [root, ANY]
    if segments[0] == root and len(segments) > 1:
        return segments
    return [root, *segments]


def _matches(tags: list[str], target: list[str]) -> bool:
    return len(tags) == len(target) and all(want in (ANY, tag) for tag, want in zip(tags, target))


def _inside_record(tags: list[str], target: list[str]) -> bool:
    return len(tags) > len(target) and _matches(tags[: len(target)], target)


def _on_path(tags: list[str], target: list[str]) -> bool:
    return len(tags) < len(target) and _matches(tags, target[: len(tags)])


def _detach(elements: list[Element]) -> None:
    """Free a finished element: at its end event it is its parent's last child."""
    elements[-1].clear()
    if len(elements) > 1:
        del elements[-2][-1]


def element_to_record(element: Element) -> dict[str, Any]:
    record: dict[str, Any] = {local_name(key): value for key, value in element.attrib.items()}
    repeated: set[str] = set()
    for child in element:
        name, value = local_name(child.tag), _child_value(child)
        if name not in record:
            record[name] = value
            continue
        if name not in repeated:
            record[name] = [record[name]]
            repeated.add(name)
        record[name].append(value)
    text = (element.text or "").strip()
    if text and not len(element):
        record["value" if not element.attrib else "#text"] = text
    return record


def _child_value(child: Element) -> Any:
    text = (child.text or "").strip()
    if not len(child) and not child.attrib:
        return text or None
    nested = element_to_record(child)
    if text and len(child):
        nested["#text"] = text
    return nested
