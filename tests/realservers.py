"""Real production servers from Debian, started by a test on 127.0.0.1 with their own
configuration, pid and logs in the test's tmp_path: tinyproxy (a forward proxy, CONNECT
included) and nginx (a reverse proxy in front of the loopback collector). The tests
that use them skip when the binary is absent; CI installs them (.ci/run)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import List, Optional

import pytest

from .hosts.conftest import free_port, wait_until


def binary(name: str, *places: str) -> str:
    """The server's executable, or skip the test."""
    for candidate in (*places, shutil.which(name)):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip(f"{name} is not installed (apt-get install {name})")


def _accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def start(argv: List[str], port: int, processes: List[subprocess.Popen], log: Path) -> subprocess.Popen:
    """Run ``argv`` in the foreground (its own process group) until it accepts on ``port``."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    processes.append(proc)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"{argv[0]} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        return _accepting(port)

    wait_until(up, 20, f"{argv[0]} to accept on 127.0.0.1:{port}")
    return proc


class Tinyproxy:
    """A forward proxy: ``url`` for proxies=, ``log()`` for what it wrote (LogLevel Info,
    its most detailed short of a debug build)."""

    def __init__(self, tmp_path: Path, processes: List[subprocess.Popen]) -> None:
        exe = binary("tinyproxy", "/usr/bin/tinyproxy", "/usr/sbin/tinyproxy")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = tmp_path / "tinyproxy.log"
        conf = tmp_path / "tinyproxy.conf"
        conf.write_text(
            f"Port {self.port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nAllow 127.0.0.1\n"
            f'LogFile "{self.log_file}"\nLogLevel Info\nPidFile "{tmp_path / "tinyproxy.pid"}"\n'
            # No ConnectPort line: CONNECT to any port (the collector's is a random one).
        )
        start([exe, "-d", "-c", str(conf)], self.port, processes, tmp_path / "tinyproxy.out")

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


class Nginx:
    """nginx in the foreground (``daemon off``) with ``server_block`` as its one server;
    ``{port}`` in the block is replaced by the port it listens on."""

    def __init__(self, tmp_path: Path, processes: List[subprocess.Popen], server_block: str,
                 port: Optional[int] = None) -> None:
        exe = binary("nginx", "/usr/sbin/nginx")
        self.port = port or free_port()
        root = tmp_path / "nginx"
        for sub in ("logs", "temp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.access_log = root / "logs" / "access.log"
        conf = root / "nginx.conf"
        conf.write_text(
            "daemon off;\nmaster_process on;\nworker_processes 1;\n"
            f"pid {root / 'nginx.pid'};\nerror_log {root / 'logs' / 'error.log'} warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"  access_log {self.access_log};\n"
            f"  client_body_temp_path {root / 'temp'};\n  proxy_temp_path {root / 'temp'};\n"
            f"  fastcgi_temp_path {root / 'temp'};\n  uwsgi_temp_path {root / 'temp'};\n"
            f"  scgi_temp_path {root / 'temp'};\n"
            + server_block.replace("{port}", str(self.port))
            + "\n}\n"
        )
        # -e: the error log before the configuration is read (else /var/log/nginx, which needs root).
        argv = [exe, "-p", str(root), "-c", str(conf), "-e", str(root / "logs" / "error.log")]
        start(argv, self.port, processes, root / "logs" / "stdout.log")
