"""``facerec serve``: the gallery as an authenticated HTTP service, with a web page (extra ``facerec[serve]``)."""

from facerec.serve.app import app_from_env, create_app, open_gallery
from facerec.serve.settings import ServeSettings

__all__ = ["ServeSettings", "app_from_env", "create_app", "open_gallery"]
