"""The WSGI application gunicorn serves:
``gunicorn -k gthread --chdir examples/django_chat chat_site.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_site.settings")
application = get_wsgi_application()
