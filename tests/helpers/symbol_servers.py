"""Symbol stores and a real HTTP symbol server on 127.0.0.1 for symbol path tests.

    store_pdb(store, pdb_path, name=None, two_tier=False) -> path inside the store
    with SymbolHttpServer(folder) as server: server.url; server.routes["/x"] = (status, headers, body)
    with SilentServer() as url: ...     # accepts connections and never answers
"""
import http.server
import os
import shutil
import socket
import threading
from typing import Optional

from dmfkd.nt.pe import guid_age_text
from dmfkd.targets.pdb import read_identity


def store_key(pdb_path: str) -> str:
    identity = read_identity(pdb_path)
    return guid_age_text(identity.guid, identity.age)


def store_pdb(store: str, pdb_path: str, name: Optional[str] = None, two_tier: bool = False) -> str:
    """Copy a PDB into a symbol store (symstore layout) and return where it went."""
    name = name or os.path.basename(pdb_path)
    parts = [store] + ([name[:2]] if two_tier else []) + [name, store_key(pdb_path)]
    folder = os.path.join(*parts)
    os.makedirs(folder, exist_ok=True)
    if two_tier:
        with open(os.path.join(store, "index2.txt"), "w") as handle:
            handle.write("two-tier store\n")
    target = os.path.join(folder, name)
    shutil.copyfile(pdb_path, target)
    return target


class SymbolHttpServer:
    """Serves `folder` (a symbol store) over HTTP; `routes` overrides single paths with
    (status, headers, body). `requests` records every path asked for."""

    def __init__(self, folder: str):
        self.folder = folder
        self.routes = {}  # type: Dict[str, Tuple[int, Dict[str, str], bytes]]
        self.requests = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append(self.path)
                if self.path in owner.routes:
                    status, headers, body = owner.routes[self.path]
                else:
                    local = os.path.join(owner.folder, *[p for p in self.path.split("/") if p])
                    if os.path.isfile(local):
                        with open(local, "rb") as handle:
                            status, headers, body = 200, {}, handle.read()
                    else:
                        status, headers, body = 404, {}, b"not here"
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> "SymbolHttpServer":
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()


class SilentServer:
    """A listening socket that never accepts: connections complete (the kernel's backlog) and
    then nothing is ever said - the dead server a timeout must get past."""

    def __enter__(self) -> str:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        return "http://127.0.0.1:%d" % self._socket.getsockname()[1]

    def __exit__(self, *exc):
        self._socket.close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return "http://127.0.0.1:%d" % port
