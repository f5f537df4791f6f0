"""A chat in a Django project: WebSocket rooms at /chat/<room>, the page at /.

    python3 examples/django_chat/manage.py runserver PORT
    gunicorn -k gthread --threads 50 --chdir examples/django_chat chat_site.wsgi

Every text message a client sends to /chat/<room> reaches every client in that room, the sender
included, unchanged. Each open WebSocket holds one of the server's threads for as long as it is
open: see docs/deployment.md for sizing ``--threads``.
"""

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2]
if str(EXAMPLES.parent) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(EXAMPLES.parent))
if str(EXAMPLES) not in sys.path:  # chat_rooms.py, shared with the Flask example
    sys.path.append(str(EXAMPLES))
