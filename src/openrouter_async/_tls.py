"""The TLS context of a Session's transport, from ``verify=`` and the environment.

httpx's rules (``httpx.create_ssl_context``), with one difference: with nothing configured we
keep the system's CA store (what both transports use today, and what corporate machines put
their proxy's CA into), where httpx would load certifi's bundle.

* ``verify=True`` (default): ``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, when ``trust_env``;
  else the system store. With ``trust_env=False`` certifi's bundle, so that OpenSSL's own
  reading of those variables is not let in through the back door either;
* ``verify="path"``: a CA bundle file, or a directory of hashed certificates (``c_rehash``);
* ``verify=ssl.SSLContext``: used as it is;
* ``verify=False``: no verification at all (certificate and host name).

Contexts we build are cached per process, by what they load: loading a CA bundle costs about
20 ms, which a Session opened per call (or per test) must not pay each time. A bundle file
changed on disk while the process runs is therefore not reloaded (as with aiohttp's default
context, built once at import).
"""

from __future__ import annotations

import functools
import os
import ssl

__all__ = ["VerifyTypes", "ssl_context"]

VerifyTypes = ssl.SSLContext | str | os.PathLike[str] | bool


def ssl_context(verify: VerifyTypes, *, trust_env: bool) -> ssl.SSLContext | None:
    """The context to connect with, or ``None`` for the transport's default (the system's
    CA store, verified): the common case costs no context of our own."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        return _context("none", "")
    if verify is True:
        cert_file = os.environ.get("SSL_CERT_FILE")
        cert_dir = os.environ.get("SSL_CERT_DIR")
        if trust_env:
            if cert_file:
                return _context("cafile", cert_file)
            if cert_dir:
                return _context("capath", cert_dir)
            return None
        if cert_file or cert_dir:
            import certifi  # an httpx dependency

            return _context("cafile", certifi.where())
        return None
    if isinstance(verify, (str, os.PathLike)):
        path = os.fspath(verify)
        if os.path.isdir(path):
            return _context("capath", path)
        if os.path.isfile(path):
            return _context("cafile", path)
        raise ValueError(f"verify={path!r}: no such CA bundle file or directory")
    raise TypeError(
        "verify must be True, False, a CA bundle path or an ssl.SSLContext, "
        f"got {type(verify).__name__}"
    )


@functools.lru_cache(maxsize=16)
def _context(kind: str, where: str) -> ssl.SSLContext:
    if kind == "none":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif kind == "capath":
        ctx = ssl.create_default_context(capath=where)
    else:
        ctx = ssl.create_default_context(cafile=where)
    ctx.set_alpn_protocols(["http/1.1"])  # both transports speak HTTP/1.1 only
    return ctx
