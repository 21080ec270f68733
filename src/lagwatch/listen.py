"""`--listen` addresses: parsing, display and the listening socket.

The forms Prometheus' own exporters accept: ``HOST:PORT``, ``[IPv6]:PORT`` and ``:PORT`` (every
interface, IPv6 and IPv4 alike where the machine has IPv6). An IPv6 address is always shown in
brackets, so a logged URL can be pasted into a browser or a scrape config. Only the standard
library: the CLI and the service installer validate addresses without loading the exporter.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket

# Hosts meaning "every interface", and the loopback URL that reaches a server bound there.
_WILDCARD_URL_HOST = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "[::1]"}


def parse_listen(value: str) -> tuple[str, int]:
    """'HOST:PORT', '[IPv6]:PORT' or ':PORT' -> (host, port), host '' for every interface;
    ValueError with a readable reason."""
    text = value.strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError(f"{value!r} holds control characters")
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if sep and not _is_ipv6(host):
            raise ValueError(f"{value!r}: {host!r} in brackets is not an IPv6 address")
    else:
        host, sep, port_text = text.rpartition(":")
        if ":" in host:
            raise ValueError(f"{value!r}: put an IPv6 address in brackets, e.g. [::1]:9683")
    if not sep:
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:9683, [::1]:9683, :9683)")
    if any(c.isspace() for c in host):
        raise ValueError(f"{value!r}: the host holds spaces")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{value!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def host_port(host: str, port: int) -> str:
    """The address as ``--listen`` takes it back: '127.0.0.1:9683', '[::1]:9683', ':9683'."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def url_for(host: str, port: int) -> str:
    """A URL that reaches a server listening on (host, port) from this machine: the loopback
    address for a wildcard host, IPv6 in brackets."""
    shown = _WILDCARD_URL_HOST.get(host)
    if shown is None:
        shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def is_wildcard(host: str) -> bool:
    return host in _WILDCARD_URL_HOST


def open_listener(host: str, port: int) -> socket.socket:
    """A bound, listening, non-blocking TCP socket. Host '' listens on every interface: IPv6
    and IPv4 on one socket where the machine has IPv6, IPv4 only otherwise. Raises OSError."""
    if host == "":
        try:
            return _listen(socket.AF_INET6, "::", port, dual_stack=True)
        except OSError:  # no IPv6 here (a container, ipv6.disable=1): IPv4 is what there is
            return _listen(socket.AF_INET, "", port)
    return _listen(socket.AF_INET6 if ":" in host else socket.AF_INET, host, port)


def _listen(family: int, host: str, port: int, dual_stack: bool = False) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if dual_stack:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except OSError:
        with contextlib.suppress(OSError):
            sock.close()
        raise
    return sock
