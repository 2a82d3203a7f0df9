"""Local test servers (nginx) for end-to-end scans of loopback targets."""

from .nginx import NginxError, NginxServer, Scenario, find_nginx, render_config, start_nginx

__all__ = ["NginxError", "NginxServer", "Scenario", "find_nginx", "render_config", "start_nginx"]
