"""supervisor.toml → frozen dataclasses, validated, with errors that name the file and the key."""

from pysupervise.config.discovery import CONFIG_NAME, find_config
from pysupervise.config.errors import ConfigError
from pysupervise.config.loader import load_config, locate_dirs, parse_config
from pysupervise.config.model import (AdminSegments, AdminSettings, AppConfig, Config, LogSettings, ProxySettings,
                                      ServicesSettings, SupervisorSettings, settings_of)
from pysupervise.config.values import ListenAddress

__all__ = ["CONFIG_NAME", "AdminSegments", "AdminSettings", "AppConfig", "Config", "ConfigError", "ListenAddress",
           "LogSettings", "ProxySettings", "ServicesSettings", "SupervisorSettings", "find_config", "load_config",
           "locate_dirs", "parse_config", "settings_of"]
