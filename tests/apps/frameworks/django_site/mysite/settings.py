"""Settings of the test Django project: production-like (DEBUG off, cached templates), sqlite next to the code."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "test-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# The proxy sets X-Forwarded-Proto itself and drops a client's copy, so Django may believe it.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.staticfiles", "notes"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "mysite.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
WSGI_APPLICATION = "mysite.wsgi.application"

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# Relative, so Django puts the script prefix (the route the app is mounted at) in front: /django/static/...
STATIC_URL = "static/"
# `manage.py collectstatic` copies here; supervisor.toml's `static` serves it from the proxy.
STATIC_ROOT = BASE_DIR / "collected_static"
