"""supervisor.toml → frozen dataclasses, validated, with errors that name the file and the key."""

from pysupervise.config.errors import ConfigError
from pysupervise.config.loader import load_config, locate_dirs, parse_config
from pysupervise.config.model import (AdminSegments, AdminSettings, AppConfig, Config, LogSettings, ProxySettings,
                                      ServicesSettings, SupervisorSettings, settings_of)
from pysupervise.config.values import ListenAddress

__all__ = ["AdminSegments", "AdminSettings", "AppConfig", "Config", "ConfigError", "ListenAddress", "LogSettings",
           "ProxySettings", "ServicesSettings", "SupervisorSettings", "load_config", "locate_dirs", "parse_config",
           "settings_of"]
