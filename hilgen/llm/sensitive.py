"""Keep sensitive corpora (e.g. MIMIC) off remote LLM endpoints unless a person opts in by name."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from hilgen.errors import UserError


class SensitiveDataError(UserError, PermissionError):
    """A sensitive dataset was about to be sent to an endpoint nobody allowed."""


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is this machine (localhost, 127.0.0.0/8, ::1); no DNS lookup."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no trailing slash: one spelling per URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    default_port = {"http": 80, "https": 443}.get(scheme)
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    return f"{scheme}://{host}{port}{parts.path.rstrip('/')}"


def check_sensitive_endpoint(
    base_url: str, *, sensitive_data: bool, allow_sensitive_endpoint: str | None
) -> None:
    """Refuse a non-loopback endpoint for sensitive data unless it is explicitly allowed.

    The allow option must name this very endpoint (compared after `normalise_url`), so that
    allowing one Azure deployment never allows another service by accident.
    """
    if not sensitive_data or is_loopback_url(base_url):
        return
    if allow_sensitive_endpoint and normalise_url(allow_sensitive_endpoint) == normalise_url(
        base_url
    ):
        return
    allowed = f" (allowed: {allow_sensitive_endpoint!r})" if allow_sensitive_endpoint else ""
    raise SensitiveDataError(
        f"The dataset is marked `sensitive: true`, so it may not be sent to the remote LLM "
        f"endpoint {base_url!r}{allowed}. Use the local model (llm=local), or, if your data "
        f"agreement covers this endpoint, set llm.allow_sensitive_endpoint={base_url} exactly."
    )
