"""nginx as a plain WebSocket reverse proxy on loopback: the reference the proxy is compared with.

The config is written to a temporary directory; nginx runs in the foreground (``daemon off``) as a
supervised child, one worker process (our proxy is one Python process), access log off.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from deploy.children import Child, start_child

_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream echo {{ server 127.0.0.1:{upstream_port}; }}
    server {{
        listen 127.0.0.1:{port} backlog=2048;
        location / {{
            proxy_pass http://echo;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
        }}
    }}
}}
"""


class NginxMissing(RuntimeError):
    """nginx is not installed; the message says how to install it."""


def write_config(prefix: Path, port: int, upstream_port: int) -> Path:
    """Write nginx.conf into `prefix` (which also holds its pid file, logs and temp paths)."""
    prefix.mkdir(parents=True, exist_ok=True)
    path = prefix / "nginx.conf"
    path.write_text(_CONFIG.format(prefix=prefix, port=port, upstream_port=upstream_port), encoding="utf-8")
    return path


@asynccontextmanager
async def running_nginx(binary: str, prefix: Path, port: int, upstream_port: int) -> AsyncIterator[Child]:
    """nginx proxying ``127.0.0.1:port`` to the WebSocket server on `upstream_port`, stopped on exit."""
    found = shutil.which(binary)
    if found is None:
        raise NginxMissing(f"{binary!r} not found: install nginx (bash deploy/system-deps.sh nginx installs it)")
    config = write_config(prefix, port, upstream_port)
    # -e: the error log before the config is read, which otherwise goes to /var/log/nginx.
    child = await start_child("nginx", [found, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(config)])
    try:
        yield child
    finally:
        await child.stop()
