"""The in-master admin web app: log browser now, status and debugger pages later, all behind one access check."""

from pysupervise.admin.access import AdminAccess, client_address, token_from_env
from pysupervise.admin.app import create_admin_app
from pysupervise.admin.server import AdminServer
from pysupervise.admin.view import SiteView

__all__ = ["AdminAccess", "AdminServer", "SiteView", "client_address", "create_admin_app", "token_from_env"]
