"""Local test servers (nginx) for end-to-end scans of loopback targets."""

from tests.servers.nginx import NginxError, NginxServer, find_nginx, render_config, start_nginx

__all__ = ["NginxError", "NginxServer", "find_nginx", "render_config", "start_nginx"]
