"""HTTP(S) symbol servers (Microsoft's symbol server protocol, as symsrv speaks it):

    GET URL/<pdb name>/<GUID><age>/<pdb name>      the PDB itself
    GET URL/<pdb name>/<GUID><age>/file.ptr        "PATH:<where the file is>" or "MSG:<why not>"
    GET URL/<pdb name>/<GUID><age>/<pdb nam_>      the compressed (cabinet) form: not supported

A server's answers are hostile: downloads are size-capped and time-bounded (connect and read
timeouts of a few seconds, and an overall deadline), written to a temporary name inside the cache
folder and renamed only once complete, and a redirect to anything but http/https is refused.
Nothing here prints: progress goes to a callback the caller passes (the CLI prints it on stderr).
"""
import os
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable, NamedTuple, Optional

DEFAULT_TIMEOUT = 5.0                   # seconds per connect / per read
DEFAULT_DEADLINE = 300.0                # seconds for a whole download
DEFAULT_MAX_BYTES = 1 << 30             # a driver's private PDB is far smaller; a bigger answer is refused
FILE_PTR_MAX = 4096
CHUNK = 1 << 16
PROGRESS_EVERY = 1.0                    # seconds between progress lines
USER_AGENT = "dmfkd-symbol-client/1.0 (Microsoft-Symbol-Server protocol)"

Progress = Optional[Callable[[str], None]]


class ServerAnswer(NamedTuple):
    """What one request gave: `status` is "ok" (data or path set), "missing" (404 and the like)
    or "failed" (the server cannot be used now: `reason` says why, the caller stops asking it)."""

    status: str
    reason: str = ""
    data: bytes = b""
    path: Optional[str] = None
    #: the answer was refused for its size (the file exists on the server)
    too_big: bool = False


class RefusedRedirect(urllib.error.URLError):
    pass


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http/https only (urllib alone would follow one to ftp://)."""

    max_redirections = 5

    def _check(self, req, headers) -> None:
        location = headers.get("location") or headers.get("uri") or ""
        target = urllib.parse.urljoin(req.full_url, location)
        scheme = urllib.parse.urlsplit(target).scheme.lower()
        if scheme not in ("http", "https"):
            raise RefusedRedirect("redirect to a %s: URL refused (only http and https are followed)" % scheme)

    def http_error_302(self, req, fp, code, msg, headers):
        self._check(req, headers)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener(url: str) -> urllib.request.OpenerDirector:
    """HTTP and HTTPS only: no file://, ftp:// or data: handlers at all. The environment's proxy
    settings apply, except to a server on this machine."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    proxies = {} if host in ("localhost", "127.0.0.1", "::1") else None
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(proxies), urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), _HttpOnlyRedirects(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RefusedRedirect):
        return str(exc.reason)
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.gaierror):
        return "no network or unknown host (%s)" % (reason.strerror or reason)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "no answer within the timeout"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    text = getattr(reason, "strerror", None) or str(reason)
    return text.splitlines()[0] if text else type(reason).__name__


class SymbolServer:
    """One http(s) symbol server URL."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT, deadline: float = DEFAULT_DEADLINE,
                 max_bytes: int = DEFAULT_MAX_BYTES):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.deadline = deadline
        self.max_bytes = max_bytes
        self._opener = _opener(self.url)

    def _url(self, *parts: str) -> str:
        return "/".join([self.url] + [urllib.parse.quote(part) for part in parts])

    def _request(self, url: str, limit: int, sink=None, progress: Progress = None, label: str = "") -> ServerAnswer:
        """GET url; the body goes to `sink.write` (or is returned, up to `limit` bytes)."""
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        started = time.monotonic()
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                length = response.headers.get("Content-Length")
                if length is not None and length.strip().isdigit() and int(length) > limit:
                    return ServerAnswer("failed", "%s is %d bytes, more than the %d allowed" % (url, int(length), limit),
                                        too_big=True)
                total = 0
                kept = []
                last_report = started
                while True:
                    if time.monotonic() - started > self.deadline:
                        return ServerAnswer("failed", "%s: download took longer than %d s" % (url, self.deadline))
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > limit:
                        return ServerAnswer("failed", "%s: answer larger than the %d bytes allowed" % (url, limit),
                                            too_big=True)
                    if sink is not None:
                        sink.write(chunk)
                    else:
                        kept.append(chunk)
                    now = time.monotonic()
                    if progress is not None and now - last_report >= PROGRESS_EVERY:
                        progress("%s: %.1f MiB" % (label, total / 2 ** 20))
                        last_report = now
                return ServerAnswer("ok", data=b"".join(kept))
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                return ServerAnswer("missing", "%s: HTTP %d" % (url, exc.code))
            return ServerAnswer("failed", "%s: HTTP %d %s" % (url, exc.code, exc.reason))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            # ValueError: http.client's answer to a malformed URL or status line
            return ServerAnswer("failed", "cannot use symbol server %s: %s" % (self.url, _describe(exc)))
        except Exception as exc:  # http.client raises many types on a broken answer
            return ServerAnswer("failed", "symbol server %s answered nonsense (%s)" % (self.url, type(exc).__name__))

    def fetch(self, name: str, key: str, folder: str, progress: Progress = None) -> ServerAnswer:
        """Download <name>/<key>/<name> into a temporary file inside `folder` (created); the caller
        checks it, then renames it into place. Answer: ok (path = the temporary file), missing, or
        failed."""
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".dmfkd-download-", suffix=".part", dir=folder)
        url = self._url(name, key, name)
        if progress is not None:
            # said before the answer is known: most questions of a search end in "not here"
            progress("asking %s for %s" % (self.url, name))
        try:
            with os.fdopen(handle, "wb") as sink:
                answer = self._request(url, self.max_bytes, sink, progress, name)
        except BaseException:
            _remove(temporary)
            raise
        if answer.status != "ok":
            _remove(temporary)
            return answer
        if progress is not None:
            progress("%s: %.1f MiB downloaded" % (name, os.path.getsize(temporary) / 2 ** 20))
        return answer._replace(path=temporary)

    def file_ptr(self, name: str, key: str) -> ServerAnswer:
        """The store's file.ptr for this key: ok with its text in `data`, missing, or failed."""
        return self._request(self._url(name, key, "file.ptr"), FILE_PTR_MAX)

    def has_compressed(self, name: str, key: str) -> bool:
        """Whether the server has the cabinet-compressed form (`name.pd_`), which dmfkd cannot expand."""
        answer = self._request(self._url(name, key, name[:-1] + "_"), 0)
        return answer.status == "ok" or answer.too_big


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
