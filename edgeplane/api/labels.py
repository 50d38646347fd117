"""Kubernetes rules for names, label keys and label values.

Pure string checks shared by the resource models and by label selectors. Each check
returns ``None`` when the input is valid, or a message that says what to change.
"""

from __future__ import annotations

import re

DNS1123_SUBDOMAIN_MAX = 253
DNS1123_LABEL_MAX = 63
LABEL_NAME_MAX = 63
LABEL_VALUE_MAX = 63

# Matched with ``fullmatch`` and written with explicit ASCII classes: ``$`` would accept
# a final "\n" (a site "victim\n" re-parsed to "victim") and ``\d`` any unicode digit.
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def check_dns1123_label(value: str) -> str | None:
    """A DNS-1123 label: lower-case alphanumerics and '-', at most 63 characters."""
    if len(value) > DNS1123_LABEL_MAX:
        return f"must be no more than {DNS1123_LABEL_MAX} characters"
    if not _DNS1123_LABEL.fullmatch(value):
        return (
            "must consist of lower case alphanumeric characters or '-', and must start "
            "and end with an alphanumeric character (e.g. 'my-name' or '123-abc')"
        )
    return None


def check_dns1123_subdomain(value: str) -> str | None:
    """A DNS-1123 subdomain: dot-separated labels, at most 253 characters."""
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        return f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        return (
            "must consist of lower case alphanumeric characters, '-' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'example.com')"
        )
    return None


def check_label_key(key: str) -> str | None:
    """A qualified name with an optional DNS-1123 subdomain prefix: ``[prefix/]name``."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return "prefix part must be non-empty"
    if prefix and (problem := check_dns1123_subdomain(prefix)):
        return f"prefix part {problem}"
    if not name:
        return "name part must be non-empty"
    if len(name) > LABEL_NAME_MAX:
        return f"name part must be no more than {LABEL_NAME_MAX} characters"
    if not _QUALIFIED_NAME.fullmatch(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName' or 'my.name')"
        )
    return None


def check_label_value(value: str) -> str | None:
    """A label value: empty, or at most 63 alphanumerics with '-', '_', '.' inside."""
    if len(value) > LABEL_VALUE_MAX:
        return f"must be no more than {LABEL_VALUE_MAX} characters"
    if not _LABEL_VALUE.fullmatch(value):
        return (
            "must be an empty string or consist of alphanumeric characters, '-', '_' or "
            "'.', and must start and end with an alphanumeric character"
        )
    return None


def parse_label_pairs(text: str, flag: str = "--labels") -> dict[str, str]:
    """``k=v,k2=v2`` (as typed on a command line) into labels; ValueError naming the pair."""
    found: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"{flag}: {pair!r} is not KEY=VALUE (e.g. region=eu-west)")
        if problem := check_label_key(key.strip()):
            raise ValueError(f"{flag}: key {key!r}: {problem}")
        if problem := check_label_value(value.strip()):
            raise ValueError(f"{flag}: value {value!r} of {key!r}: {problem}")
        found[key.strip()] = value.strip()
    return found
